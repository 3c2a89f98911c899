"""Random sequences of the reward program's use cases, checked against a small model.

Signups (referred or not), conversions and renewals, replays, full and partial
refunds, disputes opened and closed (won or lost), time passing with
process-rewards, admin decisions, and payout batches created, paid or failed line
by line run through the service layer on the test database. After every step the
database must match the model, and the invariants
hold: every reward has its source, one reward per rule, source and recipient, the
balances users see equal their reward history, a paid reward never changes, a reward
is in at most one open batch and paid at most once, and a line pays its rewards' net.
"""

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from referral_site.extensions import db
from referral_site.models import User
from referral_site.referrals.attribution import services
from referral_site.referrals.attribution.accounts import account_of
from referral_site.referrals.payouts import batches, details
from referral_site.referrals.payouts.models import PayoutLine
from referral_site.referrals.rewards import adjustments, conversions, settlement
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.rewards import queries as reward_queries
from referral_site.referrals.storage.models import Referral, Reward, RewardKind
from referral_site.referrals.storage.transactions import write_transaction
from tests import proof
from tests.conftest import PASSWORD
from tests.state_invariants import (
    balances_from_history,
    balances_from_rows,
    invariant_problems,
    load,
)
from tests.state_model import Model

RULES = [
    {
        "name": "first",
        "trigger": "first_conversion",
        "recipient": "both",
        "amount": 1000,
        "referred_amount": 500,
        "kind": "cash",
    },
    {
        "name": "share",
        "trigger": "every_conversion",
        "percent": "12.5",
        "lifetime_cap": 2500,
        "hold_days": 7,
        "review": True,
        "kind": "cash",
    },
    {"name": "milestone", "trigger": "milestone", "milestones": [2], "amount": 700},
    {"name": "welcome", "trigger": "signup", "amount": 200, "currency": "EUR"},
    {
        "name": "renewal",
        "trigger": "every_conversion",
        "conversion_kinds": ["renewal"],
        "percent": 20,
        "months": 2,
        "customer_cap": 3000,
    },
]
EXAMPLES = int(os.environ.get("STATE_MACHINE_EXAMPLES", "8"))
STEPS = int(os.environ.get("STATE_MACHINE_STEPS", "30"))


@dataclass
class Tally:
    """What the runs did, for the proof table.

    ``failures`` counts every failed check, those of Hypothesis' shrinking runs too.
    """

    steps: int = 0
    checks: int = 0
    failures: int = 0


class RewardProgram(RuleBasedStateMachine):
    """The reward program driven through its services, mirrored by a Model."""

    users = Bundle("users")
    conversions = Bundle("conversions")

    def __init__(self, app, tally: Tally):
        super().__init__()
        self.tally = tally
        self.context = app.app_context()
        self.context.push()
        _empty_database()
        self.admin_id = services.sign_up(
            name="Admin", email="admin@example.com", password=PASSWORD, capture=None
        ).id
        with write_transaction() as session:
            session.execute(
                sa.update(User).where(User.id == self.admin_id).values(is_admin=True)
            )
        self.codes: dict[int, str] = {}
        self.started = datetime.now(UTC)
        # The clock runs in the past: conversions may not be dated in the future.
        self.model = Model(
            clock=self.started - timedelta(days=40), started=self.started
        )
        self.snapshot = None

    def teardown(self):
        db.session.remove()
        self.context.pop()

    # -- steps --------------------------------------------------------------------

    @initialize(target=users)
    def a_referrer_and_two_friends(self):
        referrer = self._sign_up(None)
        return multiple(referrer, self._sign_up(referrer), self._sign_up(referrer))

    @rule(target=users)
    def sign_up(self):
        return self._sign_up(None)

    @rule(target=users, referrer=users)
    def sign_up_referred(self, referrer):
        return self._sign_up(referrer)

    def _sign_up(self, referrer: int | None) -> int:
        self.tally.steps += 1
        number = len(self.codes) + 1
        capture = None
        if referrer is not None:
            capture = services.Capture(
                code=self.codes[referrer], source=services.CaptureSource.TYPED
            )
        user = services.sign_up(
            name=f"User {number}",
            email=f"user{number}@example.com",
            password=PASSWORD,
            capture=capture,
        )
        self.codes[user.id] = account_of(user.id).code
        details.change_details(
            user.id,
            method="paypal",
            paypal_email=f"user{number}@paypal.example",
            password=PASSWORD,
            ip_hash=None,
        )
        referral_id = db.session.scalar(
            sa.select(Referral.id).where(Referral.referred_id == user.id)
        )
        db.session.rollback()  # end the read: the next service opens its own
        if referral_id is not None:
            # Signed up before the model's clock: conversions dated before their
            # user's signup are refused.
            with write_transaction() as session:
                session.get(Referral, referral_id).created_at = self.started - (
                    timedelta(days=400)
                )
        self.model.signed_up(user.id, referrer, referral_id)
        return user.id

    @rule(
        target=conversions,
        user=users,
        amount=st.integers(0, 40_000),
        currency=st.sampled_from(["USD", "EUR"]),
        kind=st.sampled_from(["purchase", "renewal"]),
    )
    def convert(self, user, amount, currency, kind):
        self.tally.steps += 1
        external_id = f"ch_{len(self.model.conversions) + 1}"
        result = conversions.record_conversion(
            user,
            kind=kind,
            amount=amount,
            currency=currency,
            external_id=external_id,
            occurred_at=self.model.clock,
        )
        assert result.created
        self.model.converted(external_id, result.id, user, amount, currency, kind)
        return external_id

    @rule(external_id=conversions, same=st.booleans())
    def deliver_again(self, external_id, same):
        self.tally.steps += 1
        stored = self.model.conversions[external_id]
        deliver = lambda: conversions.record_conversion(  # noqa: E731
            stored.user_id,
            kind=stored.kind,
            amount=stored.amount + (0 if same else 1),
            currency=stored.currency,
            external_id=external_id,
        )
        if same:
            assert not deliver().created
        else:
            with pytest.raises(conversions.ConversionConflict):
                deliver()

    @rule(external_id=conversions)
    def refund(self, external_id):
        self.tally.steps += 1
        result = conversions.refund_conversion(external_id)
        assert result.created == (not self.model.conversions[external_id].refunded)
        self.model.refunded(external_id)

    @rule(external_id=conversions, part=st.integers(1, 40_000))
    def refund_part(self, external_id, part):
        """A partial refund: the refunded total grows by part (Stripe's view)."""
        self.tally.steps += 1
        stored = self.model.conversions[external_id]
        total = stored.refunded_minor + part
        changed = settlement.refund_share(stored.id, total, reason="partial refund")
        assert changed == self.model.partially_refunded(external_id, total)

    @rule(external_id=conversions)
    def dispute_opens(self, external_id):
        self.tally.steps += 1
        settlement.hold(self.model.conversions[external_id].id, "payment disputed")
        self.model.disputed(external_id, open_=True)

    @rule(external_id=conversions, won=st.booleans())
    def dispute_closes(self, external_id, won):
        self.tally.steps += 1
        stored = self.model.conversions[external_id]
        if not won:  # lost: like a full refund
            settlement.refund_share(stored.id, stored.amount, reason="dispute lost")
            self.model.partially_refunded(external_id, stored.amount)
        settlement.release(stored.id)
        self.model.disputed(external_id, open_=False)

    @rule(days=st.integers(0, 40))
    def holds_expire(self, days):
        """Time passes (the model's clock), then process-rewards runs."""
        self.tally.steps += 1
        self.model.clock = min(self.model.clock + timedelta(days=days), self.started)
        done = rewards.process_rewards(now=self.model.clock, batch_size=3)
        expected = self.model.processed()
        assert (done.approved, done.to_review, done.rejected) == expected

    @precondition(lambda self: self.model.rewards)
    @rule(
        pick=st.integers(0, 10**6),
        action=st.sampled_from(["approve", "reject", "pay"]),
    )
    def admin_decides(self, pick, action):
        self.tally.steps += 1
        key = sorted(self.model.rewards)[pick % len(self.model.rewards)]
        reward = self.model.rewards[key]
        reason = "not eligible" if action == "reject" else ""
        decision = rewards.decide(
            [reward.id], action, actor_id=self.admin_id, reason=reason
        )
        allowed = self.model.decided(key, action, now=self.started)
        assert decision.changed == ([reward.id] if allowed else [])
        assert len(decision.problems) == (0 if allowed else 1)

    @rule(user=users, amount=st.integers(-1500, 2500).filter(bool))
    def admin_adjusts_in_cash(self, user, amount):
        """A manual cash reward, or a deduction: approved at once, due at once."""
        self.tally.steps += 1
        reward_id = adjustments.adjust(
            user,
            amount,
            "USD",
            actor_id=self.admin_id,
            reason="by hand",
            kind=RewardKind.CASH,
        )
        rule_, source = db.session.execute(
            sa.select(Reward.rule, Reward.source_key).where(Reward.id == reward_id)
        ).one()
        db.session.rollback()
        self.model.adjusted((rule_, source, user), amount, "USD")

    @precondition(lambda self: self.model.due())
    @rule()
    def admin_creates_a_batch(self):
        self.tally.steps += 1
        expected = self.model.batch_created(None)
        try:
            created = batches.create_batch(None, actor_id=self.admin_id)
        except batches.PayoutError:
            assert expected == {}
            return
        self.model.batch_created(created.batch_id)
        lines = db.session.execute(
            sa.select(
                PayoutLine.user_id, PayoutLine.currency, PayoutLine.amount_minor
            ).where(PayoutLine.batch_id == created.batch_id)
        ).all()
        db.session.rollback()
        assert {(u, c): a for u, c, a in lines} == expected

    @precondition(lambda self: self.model.open_lines())
    @rule(pick=st.integers(0, 10**6))
    def admin_marks_a_batch_paid(self, pick):
        self.tally.steps += 1
        lines = self.model.open_lines()
        batch_id = lines[pick % len(lines)][0]
        batches.mark_paid(batch_id, actor_id=self.admin_id, reference="PP-1")
        self.model.batch_paid(batch_id)

    @precondition(lambda self: self.model.open_lines())
    @rule(pick=st.integers(0, 10**6))
    def a_payout_line_fails(self, pick):
        self.tally.steps += 1
        lines = self.model.open_lines()
        batch_id, user_id, currency = line = lines[pick % len(lines)]
        line_id = db.session.scalar(
            sa.select(PayoutLine.id).where(
                PayoutLine.batch_id == batch_id,
                PayoutLine.user_id == user_id,
                PayoutLine.currency == currency,
            )
        )
        db.session.rollback()
        batches.fail_line(line_id, actor_id=self.admin_id, reason="no account")
        self.model.line_failed(line)

    # -- checks -------------------------------------------------------------------

    @invariant()
    def matches_the_model_and_keeps_the_invariants(self):
        self.tally.checks += 1
        state = load()
        balances = {
            user_id: reward_queries.balances(user_id)
            for user_id in {row.user_id for row in state.rewards}
        }
        db.session.rollback()
        problems = invariant_problems(state, self.snapshot) + self.model.differences(
            state
        )
        for user_id, shown in balances.items():
            if _as_dict(shown) != balances_from_rows(state.rewards, user_id):
                problems.append(f"balances of user {user_id} differ from the rewards")
            if _as_dict(shown) != balances_from_history(state, user_id):
                problems.append(f"balances of user {user_id} differ from the history")
        self.snapshot = state
        if problems:
            self.tally.failures += 1
        assert problems == []


def _as_dict(balances) -> dict:
    return {b.currency: (b.pending, b.approved, b.paid) for b in balances}


def _empty_database() -> None:
    with write_transaction() as session:
        for table in reversed(db.metadata.sorted_tables):
            session.execute(table.delete())


@pytest.mark.proof
def test_random_sequences_of_the_reward_program_keep_its_invariants(make_app):
    app = make_app(
        REFERRALS_REWARD_RULES=RULES, REFERRALS_VELOCITY_MAX_PER_REFERRER=10_000
    )
    tally = Tally()
    try:
        run_state_machine_as_test(
            lambda: RewardProgram(app, tally),
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                suppress_health_check=[
                    HealthCheck.too_slow,
                    HealthCheck.filter_too_much,
                ],
            ),
        )
    except Exception:
        # A step whose outcome the model did not predict fails like an invariant.
        tally.failures = max(tally.failures, 1)
        raise
    finally:
        proof.record("state_machine_steps", tally.steps)
        proof.record("state_machine_checks", tally.checks)
        proof.record("state_machine_invariant_failures", tally.failures)
