"""Shared helpers of the conversion and reward tests."""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from referral_site.referrals.storage.models import Referral, Reward, RewardStatus
from referral_site.referrals.storage.transactions import write_transaction
from tests.conftest import plugin_session

API_KEY = "test-api-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


#: When referred_pair's user signed up: before any conversion the tests date back
#: (a conversion dated before its user's signup is refused).
SIGNED_UP_DAYS_AGO = 400


def referred_pair(make_user, referrer="ann@example.com", referred="bob@example.com"):
    """A referrer and a user who signed up with their code long ago; both ids."""
    ann_id, code = make_user(referrer, "Ann") if referrer else (None, None)
    bob_id, _ = make_user(referred, "Bob", code=code)
    if ann_id is not None:
        backdate_signup(make_user.app, bob_id, days=SIGNED_UP_DAYS_AGO)
    return ann_id, bob_id


def backdate_signup(app, referred_id, *, days: float) -> None:
    """Move a referred user's signup (their referral) `days` into the past."""
    with app.app_context(), write_transaction() as session:
        referral = session.scalar(
            sa.select(Referral).where(Referral.referred_id == referred_id)
        )
        referral.created_at = days_ago(days)


def post_conversion(client, headers=AUTH, **body):
    """Post a conversion to the API of client's app (under the plugin's prefix)."""
    prefix = client.application.config["REFERRALS_URL_PREFIX"]
    return client.post(f"{prefix}/api/conversions", json=body, headers=headers)


def conversion_body(user_email="bob@example.com", **overrides):
    body = {
        "email": user_email,
        "kind": "purchase",
        "amount": 4999,
        "currency": "USD",
        "external_id": "ch_1",
    }
    return body | overrides


def rewards_of(app, **where) -> list[tuple]:
    """(user_id, rule, amount, currency, status) of rewards, in id order."""
    with app.app_context():
        query = sa.select(
            Reward.user_id,
            Reward.rule,
            Reward.amount_minor,
            Reward.currency,
            Reward.status,
        ).order_by(Reward.id)
        for name, value in where.items():
            query = query.where(getattr(Reward, name) == value)
        return [tuple(row) for row in plugin_session(app).execute(query)]


def reward_ids(app, status: RewardStatus | None = None) -> list[int]:
    with app.app_context():
        query = sa.select(Reward.id).order_by(Reward.id)
        if status is not None:
            query = query.where(Reward.status == status)
        return list(plugin_session(app).scalars(query))


def set_review_status(app, referred_id: int, review_status) -> int:
    """Set a referral's review status (what the fraud checks do); returns its id."""
    with app.app_context(), write_transaction() as session:
        referral = session.scalar(
            sa.select(Referral).where(Referral.referred_id == referred_id)
        )
        referral.review_status = review_status
        return referral.id


def backdate_all_signups(app, *, days: float) -> None:
    """Move every referral made so far `days` into the past (through the ORM, so
    the counts kept per day move with them)."""
    with app.app_context(), write_transaction() as session:
        for referral in session.scalars(sa.select(Referral)):
            referral.created_at = days_ago(days)


def signing_up_long_ago(make_user):
    """make_user whose referred users signed up SIGNED_UP_DAYS_AGO days ago.

    For tests that date conversions back: a conversion dated before its user's
    signup is refused.
    """

    def create(*args, **kwargs):
        user_id, code = make_user(*args, **kwargs)
        if kwargs.get("code"):
            backdate_signup(make_user.app, user_id, days=SIGNED_UP_DAYS_AGO)
        return user_id, code

    create.app = make_user.app
    return create
