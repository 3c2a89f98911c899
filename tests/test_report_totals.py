"""The report's totals kept on write always equal counting the rows they stand for."""

from collections import Counter
from contextlib import suppress
from datetime import UTC, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from referral_site.extensions import db
from referral_site.models import User
from referral_site.referrals.account import service as account
from referral_site.referrals.fraud.models import VisitRollup
from referral_site.referrals.reports import figures as reports
from referral_site.referrals.reports.models import (
    ActiveReferrers,
    DailyRewardTotal,
    DailyTotal,
    ReferrerTotal,
    UserRewardTotal,
)
from referral_site.referrals.rewards import conversions
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.storage.models import (
    CaptureSource,
    Referral,
    ReferralAccount,
    ReferralStatus,
    Reward,
    RewardStatus,
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


DAY_COUNTS = ("users", "clicks", "signups", "conversions")
COUNTS = ("clicks", "signups", "conversions")


def _day(moment) -> object:
    return moment.astimezone(UTC).date()


def _nonzero(counter: Counter) -> dict:
    """The counter without zeros (negative values stay: they would be bugs)."""
    return {key: value for key, value in counter.items() if value}


def recounted(app) -> dict:
    """Every kept total, counted from the users, visits, referrals and rewards."""
    with app.app_context():
        days: Counter = Counter()
        referrers: Counter = Counter()
        for (created_at,) in db.session.execute(sa.select(ReferralAccount.created_at)):
            days[(_day(created_at), "users")] += 1
        for referrer_id, created_at in db.session.execute(
            sa.select(Visit.referrer_id, Visit.created_at)
        ):
            days[(_day(created_at), "clicks")] += 1
            referrers[(referrer_id, "clicks")] += 1
        for referral in db.session.scalars(sa.select(Referral)):
            days[(_day(referral.created_at), "signups")] += 1
            referrers[(referral.referrer_id, "signups")] += 1
            if referral.status == ReferralStatus.CONVERTED and referral.converted_at:
                days[(_day(referral.converted_at), "conversions")] += 1
                referrers[(referral.referrer_id, "conversions")] += 1
        money: Counter = Counter()
        for reward in db.session.scalars(sa.select(Reward)):
            for key in (
                (_day(reward.created_at), reward.currency, reward.status),
                (reward.user_id, reward.currency, reward.status),
            ):
                money[(*key, "rewards")] += 1
                money[(*key, "amount_minor")] += reward.amount_minor
        active = {
            referrer_id
            for (referrer_id, name), n in referrers.items()
            if n and name != "conversions"
        }
        return {
            "days": _nonzero(days),
            "referrers": _nonzero(referrers),
            "active": len(active),
            "rewards": _nonzero(money),
        }


def stored(app) -> dict:
    """Every kept total as stored (slots summed)."""
    with app.app_context():
        days: Counter = Counter()
        for row in db.session.scalars(sa.select(DailyTotal)):
            for name in DAY_COUNTS:
                days[(row.day, name)] += getattr(row, name)
        referrers: Counter = Counter()
        for row in db.session.scalars(sa.select(ReferrerTotal)):
            for name in COUNTS:
                referrers[(row.referrer_id, name)] += getattr(row, name)
        money: Counter = Counter()
        for row in db.session.scalars(sa.select(DailyRewardTotal)):
            key = (row.day, row.currency, row.status)
            money[(*key, "rewards")] += row.rewards
            money[(*key, "amount_minor")] += row.amount_minor
        for row in db.session.scalars(sa.select(UserRewardTotal)):
            key = (row.user_id, row.currency, row.status)
            money[(*key, "rewards")] += row.rewards
            money[(*key, "amount_minor")] += row.amount_minor
        active = db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(ActiveReferrers.referrers), 0))
        )
        return {
            "days": _nonzero(days),
            "referrers": _nonzero(referrers),
            "active": active,
            "rewards": _nonzero(money),
        }


def user_id(email: str) -> int:
    return db.session.scalar(sa.select(User.id).where(User.email == email))


def convert(app, email: str, external_id: str, days_ago: float = 0) -> None:
    with app.app_context():
        conversions.record_conversion(
            user_id(email),
            kind="purchase",
            amount=1000,
            external_id=external_id,
            occurred_at=utcnow() - timedelta(days=days_ago),
        )


def reward_ids(app, status: RewardStatus) -> list[int]:
    with app.app_context():
        return list(
            db.session.scalars(sa.select(Reward.id).where(Reward.status == status))
        )


def test_totals_follow_clicks_signups_conversions_and_rewards(app, make_user):
    _, code = make_user()
    make_user("cat@example.com", "Cat")  # a user who refers nobody
    for n in range(4):
        visitor = app.test_client()
        visitor.get(f"/r/{code}")
        signup(visitor, email=f"friend{n}@example.com")
    backdate_all_signups(app, days=10)  # before the conversions below
    assert stored(app) == recounted(app)
    assert stored(app)["active"] == 1
    convert(app, "friend0@example.com", "ch_0", days_ago=3)
    convert(app, "friend1@example.com", "ch_1")
    convert(app, "friend2@example.com", "ch_2")
    assert stored(app) == recounted(app)
    with app.app_context():
        rewards.process_rewards(now=utcnow() + timedelta(days=30))
        approved = reward_ids(app, RewardStatus.APPROVED)
        rewards.decide(approved[:2], "pay", actor_id=1)
        rewards.decide(approved[2:3], "reject", actor_id=1, reason="test")
        conversions.refund_conversion("ch_0")  # paid: clawed back by an adjustment
        conversions.refund_conversion("ch_2")  # unpaid: reversed
    assert stored(app) == recounted(app)


def test_totals_follow_edits_and_deletions_of_referrals(app, make_user):
    ann_id, code = make_user()
    for n in range(3):
        make_user(f"friend{n}@example.com", "Friend", code=code)
    convert(app, "friend0@example.com", "ch_0")
    with app.app_context(), write_transaction() as session:
        first, second, third = session.scalars(
            sa.select(Referral).order_by(Referral.id)
        )
        first.created_at = utcnow() - timedelta(days=40)
        first.status = ReferralStatus.REJECTED  # no longer a conversion
        second.status = ReferralStatus.CONVERTED
        second.converted_at = utcnow() - timedelta(days=1)
        session.delete(third)
    assert stored(app) == recounted(app)
    with app.app_context():
        account.delete_account(user_id("friend1@example.com"), password=PASSWORD)
    assert stored(app) == recounted(app)
    with app.app_context():
        funnel = reports.funnel(reports.date_range("all"), referrer_id=ann_id)
    assert (funnel.signups, funnel.conversions) == (2, 1)


def test_a_user_deleted_outright_leaves_the_totals(app, make_user):
    """Their daily counts go with them (ON DELETE CASCADE); the totals follow."""
    _, code = make_user()
    app.test_client().get(f"/r/{code}")
    moved_id, _ = make_user("moved@example.com", "Moved")
    with app.app_context(), write_transaction() as session:
        moved = session.get(ReferralAccount, moved_id)
        session.expire(moved, ["created_at"])  # changed without reading it first
        moved.created_at = utcnow() - timedelta(days=10)
    assert stored(app)["active"] == 1
    assert stored(app) == recounted(app)
    with app.app_context(), write_transaction() as session:
        session.delete(
            session.scalar(
                sa.select(User)
                .join(ReferralAccount, ReferralAccount.user_id == User.id)
                .where(ReferralAccount.code == code)
            )
        )
    assert stored(app) == recounted(app)
    assert stored(app)["active"] == 0


def test_buffered_clicks_are_counted_in_the_totals(make_app, make_user):
    app = make_app(REFERRALS_VISIT_BUFFER_SECONDS=3600)
    _, code = make_user()
    for _ in range(5):
        app.test_client().get(f"/r/{code}")
    assert app.extensions["referrals"].visit_buffer.flush() == 5
    assert stored(app) == recounted(app)
    assert stored(app)["active"] == 1


def test_purging_visits_keeps_every_total(app, runner, make_user):
    _, code = make_user()
    for _ in range(3):
        app.test_client().get(f"/r/{code}")
    signup(app.test_client(), email="friend@example.com", code=code)
    before = stored(app)
    with app.app_context():
        db.session.execute(
            sa.update(Visit).values(created_at=utcnow() - timedelta(days=200))
        )
        db.session.commit()
    assert runner.invoke(args=["referrals", "purge-visits"]).exit_code == 0
    assert stored(app) == before
    with app.app_context():
        clicks = db.session.scalar(sa.select(sa.func.sum(VisitRollup.clicks)))
        funnel = reports.funnel(reports.date_range("all"))
    assert funnel.clicks == clicks == 3


def test_seed_demo_fills_the_totals(app, runner):
    args = ["--users", "80", "--referrals", "60", "--clicks", "700", "--batch", "100"]
    result = runner.invoke(args=["referrals", "seed-demo", *args])
    assert result.exit_code == 0, result.output
    assert stored(app) == recounted(app)


def test_rewards_created_outside_the_rules_are_counted(app, make_user):
    ann_id, _ = make_user()
    with app.app_context(), write_transaction() as session:
        for status in (RewardStatus.PENDING, RewardStatus.PAID):
            session.add(
                Reward(
                    user_id=ann_id,
                    kind="credit",
                    amount_minor=700,
                    currency="EUR",
                    status=status,
                    created_at=utcnow() - timedelta(days=2),
                )
            )
    with app.app_context(), write_transaction() as session:
        pending, paid = session.scalars(sa.select(Reward).order_by(Reward.id))
        session.expire(pending)  # changed without reading it first
        pending.amount_minor = 900
        pending.currency = "USD"
        session.delete(paid)
    assert stored(app) == recounted(app)
    with app.app_context():
        (usd,) = reports.rewards_by_status(reports.date_range("7d"))
    assert (usd.currency, usd.amount("pending"), usd.count("pending")) == (
        "USD",
        900,
        1,
    )


def test_visits_recorded_by_source_are_all_counted(app, make_user):
    _, code = make_user()
    visitor = app.test_client()
    visitor.get(f"/r/{code}")
    visitor.get(f"/?ref={code}")
    with app.app_context():
        sources = set(db.session.scalars(sa.select(Visit.source)))
    assert sources <= {CaptureSource.LINK, CaptureSource.QUERY}
    assert stored(app) == recounted(app)


def test_a_referrer_whose_referrals_are_all_deleted_is_no_longer_active(app, make_user):
    _, code = make_user()
    make_user("friend@example.com", "Friend", code=code)
    assert stored(app)["active"] == 1
    with app.app_context(), write_transaction() as session:
        session.delete(session.scalar(sa.select(Referral)))
    assert stored(app) == recounted(app)
    assert stored(app)["active"] == 0


def test_what_a_rolled_back_savepoint_wrote_is_not_counted(app, make_user):
    ann_id, _ = make_user()

    def reward(key: str) -> Reward:
        return Reward(
            user_id=ann_id,
            kind="credit",
            amount_minor=500,
            currency="USD",
            rule="r",
            source_key=key,
        )

    with app.app_context(), write_transaction() as session:
        with suppress(IntegrityError), session.begin_nested():
            session.add(reward("twice"))
            session.flush()
            session.add(reward("twice"))  # the same grant: the savepoint fails
        with session.begin_nested():
            session.add(reward("once"))
    assert stored(app) == recounted(app)
    assert sum(stored(app)["rewards"].values()) == 2 * 501  # per day and per user
