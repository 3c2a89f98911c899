"""Payout races: two admins creating batches at once, and a refund racing a batch's
creation. Neither may put a reward in two batches, pay it twice or lose a clawback.
And changes of payout details confirmed by email: a link followed twice at once
applies once; two requests at once leave one pending change with one working link.

Each race runs once in the default suite and 20 times under `slow` (make proof), on
SQLite (BEGIN IMMEDIATE serializes writers) and PostgreSQL (row locks and the
partial unique index on payout_items do the work).
"""

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.emails.tokens import InvalidLink
from referral_site.referrals.payouts import batches, confirmation, details
from referral_site.referrals.payouts.models import (
    PayoutDetailChange,
    PayoutItem,
    PendingPayoutDetails,
)
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


@pytest.fixture
def mail_payouts(make_app, smtp):
    """The payouts' app with mail on: changes of details wait for their link."""
    from tests.email_helpers import mail_settings

    return make_app(**SETTINGS, **mail_settings(smtp))


def _ask(app, user_id, email):
    return in_context(
        app, confirmation.request_change, user_id, method="paypal",
        paypal_email=email, password=PASSWORD, ip_hash=None,
    )  # fmt: skip


def _tokens(smtp) -> list[str]:
    """The tokens of the confirmation links emailed so far, oldest first."""
    from tests.email_helpers import links

    found = []
    for message in smtp.wait_for(1):
        found += [u.rsplit("/", 1)[1] for u in links(message) if "/confirm/" in u]
    return found


@pytest.mark.parametrize("rounds", ROUNDS)
def test_a_link_followed_twice_at_once_applies_its_change_once(
    mail_payouts, make_user, smtp, rounds
):
    app = mail_payouts
    ann, _ = make_user("ann@example.com", "Ann")
    for round_ in range(rounds):
        _ask(app, ann, f"ann{round_}@paypal.example")()
        token = _tokens(smtp)[-1]
        confirm = in_context(app, confirmation.confirm_change, token, ann)
        results = run_at_once([confirm, confirm])
        applied = [r for r in results if isinstance(r, details.Details)]
        assert len(applied) == 1, results
        assert all(isinstance(r, InvalidLink) for r in results if r not in applied)
        with app.app_context():
            logged = db.session.scalar(sa.select(sa.func.count(PayoutDetailChange.id)))
        assert logged == round_ + 1


@pytest.mark.parametrize("rounds", ROUNDS)
def test_two_requests_at_once_leave_one_change_and_one_working_link(
    mail_payouts, make_user, smtp, rounds
):
    app = mail_payouts
    ann, _ = make_user("ann@example.com", "Ann")
    for round_ in range(rounds):
        before = len(_tokens(smtp))
        results = run_at_once(
            [_ask(app, ann, f"{side}{round_}@paypal.example") for side in "ab"]
        )
        assert all(
            isinstance(r, (confirmation.PendingChange, details.DetailsError))
            for r in results
        ), results
        with app.app_context():
            (waiting,) = db.session.scalars(sa.select(PendingPayoutDetails)).all()
            wanted = waiting.paypal_email
        outcomes = [
            in_context(app, confirmation.confirm_change, token, ann)
            for token in _tokens(smtp)[before:]
        ]
        applied = []
        for outcome in outcomes:
            try:
                applied.append(outcome())
            except InvalidLink:
                pass
        assert [d.paypal_email for d in applied] == [wanted], round_
