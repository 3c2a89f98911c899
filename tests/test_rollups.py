"""The daily counts per referrer always equal counting the visits and referrals."""

from collections import Counter
from datetime import UTC, timedelta

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.models import User
from referral_site.referrals.account import service as account
from referral_site.referrals.fraud.models import VisitRollup
from referral_site.referrals.reports import figures as reports
from referral_site.referrals.rewards import conversions
from referral_site.referrals.storage.models import (
    Referral,
    ReferralStatus,
    Visit,
    utcnow,
)
from referral_site.referrals.storage.transactions import write_transaction
from tests.conftest import PASSWORD, signup
from tests.reward_helpers import backdate_all_signups, signing_up_long_ago


@pytest.fixture
def make_user(make_user):
    """Referred users signed up long ago, before the conversions dated back."""
    return signing_up_long_ago(make_user)


def recounted(app) -> Counter:
    """Clicks, signups and conversions per (referrer, day, count) from the rows."""
    with app.app_context():
        counts: Counter = Counter()
        for referrer_id, created_at in db.session.execute(
            sa.select(Visit.referrer_id, Visit.created_at)
        ):
            counts[(referrer_id, created_at.astimezone(UTC).date(), "clicks")] += 1
        for row in db.session.execute(sa.select(Referral)).scalars():
            day = row.created_at.astimezone(UTC).date()
            counts[(row.referrer_id, day, "signups")] += 1
            if row.status == ReferralStatus.CONVERTED and row.converted_at:
                day = row.converted_at.astimezone(UTC).date()
                counts[(row.referrer_id, day, "conversions")] += 1
        return counts


def stored(app) -> Counter:
    with app.app_context():
        counts: Counter = Counter()
        for rollup in db.session.scalars(sa.select(VisitRollup)):
            for name in ("clicks", "signups", "conversions"):
                counts[(rollup.referrer_id, rollup.day, name)] += getattr(rollup, name)
        return +counts  # drops zeros


def test_counts_follow_clicks_signups_conversions_and_edits(app, make_user):
    ann_id, code = make_user()
    visitors = [app.test_client() for _ in range(3)]
    for n, visitor in enumerate(visitors):
        visitor.get(f"/r/{code}")
        signup(visitor, email=f"friend{n}@example.com")
    backdate_all_signups(app, days=10)  # before the conversions below
    assert stored(app) == recounted(app)
    with app.app_context():
        for n in range(2):
            conversions.record_conversion(
                sa_user(f"friend{n}@example.com"),
                kind="purchase",
                amount=1000,
                external_id=f"ch_{n}",
                occurred_at=utcnow() - timedelta(days=3),
            )
        conversions.refund_conversion("ch_1")  # still converted, still counted
    assert stored(app) == recounted(app)
    with app.app_context(), write_transaction() as session:
        moved = session.scalar(sa.select(Referral).order_by(Referral.id).limit(1))
        moved.created_at = utcnow() - timedelta(days=40)
        rejected = session.scalar(sa.select(Referral).where(Referral.id == moved.id))
        rejected.status = ReferralStatus.REJECTED
    assert stored(app) == recounted(app)
    with app.app_context():
        account.delete_account(sa_user("friend2@example.com"), password=PASSWORD)
        period = reports.date_range("all")
        funnel = reports.funnel(period, referrer_id=ann_id)
    assert (funnel.clicks, funnel.signups, funnel.conversions) == (3, 3, 1)
    assert stored(app) == recounted(app)


def sa_user(email: str) -> int:
    return db.session.scalar(sa.select(User.id).where(User.email == email))


def test_a_referral_changed_without_being_read_moves_its_counts(app, make_user):
    _, code = make_user()
    make_user("friend@example.com", "Friend", code=code)
    with app.app_context(), write_transaction() as session:
        referral = session.scalar(sa.select(Referral))
        session.expire(referral)  # as after a commit: nothing loaded
        referral.created_at = utcnow() - timedelta(days=40)
        referral.status = ReferralStatus.CONVERTED
        referral.converted_at = utcnow() - timedelta(days=2)
    assert stored(app) == recounted(app)
