"""Shared helpers of the payout tests: a program paying cash, earning rewards,
payout details set through the form, and reads of batches and rewards."""

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.payouts.models import PayoutItem
from referral_site.referrals.rewards import conversions
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.storage.models import Reward, RewardEvent, RewardStatus
from tests.conftest import PASSWORD, login
from tests.reward_helpers import API_KEY, backdate_signup

#: The referrer earns 10.00 cash on each friend's first purchase (paid out), the
#: friend 5.00 store credit; no hold, so process-rewards approves at once.
RULES = [
    {
        "name": "cash",
        "trigger": "first_conversion",
        "recipient": "referrer",
        "kind": "cash",
        "amount": 1000,
        "hold_days": 0,
    },
    {
        "name": "credit",
        "trigger": "first_conversion",
        "recipient": "referred",
        "kind": "credit",
        "amount": 500,
        "hold_days": 0,
    },
]
SETTINGS = {
    "REFERRALS_REWARD_RULES": json.dumps(RULES),
    "REFERRALS_API_KEY": API_KEY,
    "REFERRALS_PAYOUT_MINIMUM": json.dumps({"USD": 1500}),
    "REFERRALS_VELOCITY_MAX_PER_REFERRER": 10_000,
    "REFERRALS_VELOCITY_MAX_PER_IP": 10_000,
}
PAST = datetime.now(UTC) - timedelta(days=30)


def friend_buys(app, make_user, code, external_id, email=None) -> int:
    """A new friend of the code's owner buys; rewards approved. The friend's id."""
    email = email or f"friend-{external_id}@example.com"
    friend, _ = make_user(email, "Friend", code=code)
    backdate_signup(app, friend, days=400)
    with app.app_context():
        conversions.record_conversion(
            friend,
            kind="purchase",
            amount=5000,
            external_id=external_id,
            occurred_at=PAST,
        )
        rewards.process_rewards()
    return friend


def signed_in(app, email):
    client = app.test_client()
    login(client, email)
    return client


def set_paypal(client, email, password=PASSWORD):
    """Save PayPal payout details through the form on /referrals."""
    return client.post(
        "/referrals/payout-details",
        data={
            "payout-method": "paypal",
            "payout-paypal_email": email,
            "payout-password": password,
        },
    )


def create_batch(admin, *keys):
    """Create a batch through the form (everything when no keys are given)."""
    data = {"keys": list(keys), "selected": "1"} if keys else {"everything": "1"}
    return admin.post("/admin/payouts/batches", data=data)


def batch_id_of(response) -> int:
    match = re.search(r"/admin/payouts/batches/(\d+)$", response.headers["Location"])
    assert match, response.headers.get("Location")
    return int(match.group(1))


def mark_paid(admin, batch_id, reference="PAYPAL-BATCH-1"):
    return admin.post(
        f"/admin/payouts/batches/{batch_id}/paid",
        data={"reference": reference, "confirm": "y"},
    )


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def reward_rows(app, user_id) -> list[tuple]:
    """(id, rule, amount, status) of a user's rewards, in id order."""
    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(
                sa.select(Reward.id, Reward.rule, Reward.amount_minor, Reward.status)
                .where(Reward.user_id == user_id)
                .order_by(Reward.id)
            )
        ]


def times_paid(app) -> dict[int, int]:
    """How many times each reward became paid, from its history."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(RewardEvent.reward_id, sa.func.count())
            .where(RewardEvent.to_status == RewardStatus.PAID)
            .where(RewardEvent.from_status != RewardStatus.PAID)
            .group_by(RewardEvent.reward_id)
        )
        return dict(rows.all())


def holders(app) -> dict[int, int]:
    """How many unreleased payout items hold each reward."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(PayoutItem.reward_id, sa.func.count())
            .where(PayoutItem.released_at.is_(None))
            .group_by(PayoutItem.reward_id)
        )
        return dict(rows.all())
