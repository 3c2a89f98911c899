"""Payout races: two admins creating batches at once, and a refund racing a batch's
creation. Neither may put a reward in two batches, pay it twice or lose a clawback.

Each race runs once in the default suite and 20 times under `slow` (make proof), on
SQLite (BEGIN IMMEDIATE serializes writers) and PostgreSQL (row locks and the
partial unique index on payout_items do the work).
"""

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.payouts import batches, details
from referral_site.referrals.payouts.models import PayoutItem
from referral_site.referrals.rewards import conversions
from referral_site.referrals.storage.models import Reward, RewardStatus
from tests.conftest import PASSWORD
from tests.payout_helpers import SETTINGS, friend_buys, holders, times_paid
from tests.test_reward_concurrency import in_context, run_at_once

ROUNDS = [1, pytest.param(20, marks=pytest.mark.slow)]


@pytest.fixture
def app(make_app):
    return make_app(**SETTINGS | {"REFERRALS_PAYOUT_MINIMUM": ""})


def paid_by_paypal(app, user_id, email) -> None:
    with app.app_context():
        details.change_details(
            user_id,
            method="paypal",
            paypal_email=email,
            password=PASSWORD,
            ip_hash=None,
        )


def due_count(app) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count(Reward.id)).where(
                Reward.status == RewardStatus.APPROVED, Reward.kind == "cash"
            )
        )


@pytest.mark.parametrize("rounds", ROUNDS)
def test_two_admins_creating_batches_at_once_never_share_a_reward(
    app, make_user, rounds
):
    boss, _ = make_user("boss@example.com", "Boss", admin=True)
    deputy, _ = make_user("deputy@example.com", "Deputy", admin=True)
    referrers = []
    for name in ("ann", "bea", "cy"):
        user_id, code = make_user(f"{name}@example.com", name.title())
        paid_by_paypal(app, user_id, f"{name}@paypal.example")
        referrers.append(code)
    for round_ in range(rounds):
        for n, code in enumerate(referrers):
            friend_buys(app, make_user, code, f"ch_{round_}_{n}")
        due = due_count(app)
        results = run_at_once(
            [
                in_context(app, batches.create_batch, None, actor_id=boss),
                in_context(app, batches.create_batch, None, actor_id=deputy),
            ]
        )
        created = [r for r in results if isinstance(r, batches.Created)]
        unexpected = [r for r in results if not isinstance(r, batches.Created)]
        assert all(isinstance(r, batches.PayoutError) for r in unexpected), results
        assert created, results
        held = holders(app)
        assert set(held.values()) == {1}, round_  # no reward in two batches
        assert len(held) == due + 3 * round_, round_
        for batch in created:
            with app.app_context():
                batches.mark_paid(batch.batch_id, actor_id=boss, reference="PP")
        assert set(times_paid(app).values()) == {1}, round_  # none paid twice
        assert due_count(app) == 0


@pytest.mark.parametrize("rounds", ROUNDS)
def test_a_refund_racing_a_batch_never_pays_twice_nor_loses_the_clawback(
    app, make_user, rounds
):
    boss, _ = make_user("boss@example.com", "Boss", admin=True)
    for round_ in range(rounds):
        referrer, code = make_user(f"ref{round_}@example.com", "Referrer")
        paid_by_paypal(app, referrer, f"ref{round_}@paypal.example")
        friend_buys(app, make_user, code, f"ch_{round_}")
        results = run_at_once(
            [
                in_context(app, batches.create_batch, None, actor_id=boss),
                in_context(app, conversions.refund_conversion, f"ch_{round_}"),
            ]
        )
        batch, refund = results
        assert not isinstance(refund, Exception), results
        assert isinstance(batch, (batches.Created, batches.PayoutError)), results
        if isinstance(batch, batches.Created):
            with app.app_context():
                batches.mark_paid(batch.batch_id, actor_id=boss, reference="PP")
        with app.app_context():
            rows = db.session.execute(
                sa.select(Reward.rule, Reward.amount_minor, Reward.status)
                .where(Reward.user_id == referrer)
                .order_by(Reward.id)
            ).all()
            in_batches = db.session.scalar(
                sa.select(sa.func.count(PayoutItem.id))
                .join(Reward, Reward.id == PayoutItem.reward_id)
                .where(Reward.user_id == referrer)
            )
        rows = [tuple(row) for row in rows]
        if isinstance(batch, batches.Created):
            # Paid whole from the file; the refund is owed back, netted next time.
            assert rows == [
                ("cash", 1000, RewardStatus.PAID),
                ("adjustment", -1000, RewardStatus.APPROVED),
            ], round_
            assert in_batches == 1
        else:
            assert rows == [("cash", 1000, RewardStatus.REVERSED)], round_
            assert in_batches == 0
        assert set(times_paid(app).values()) <= {1}, round_
