"""The model the reward state machine is checked against (invariants: state_invariants).

The model is what the README promises, written as plainly as possible: which rule
grants what to whom, and how statuses move. It knows the rules of
tests/test_state_machine.py (RULES) and nothing of the implementation.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from referral_site.referrals.rewards.grants import add_months
from referral_site.referrals.storage.models import (
    RewardStatus,
)
from tests.state_payouts import PayoutModel

if TYPE_CHECKING:
    from tests.state_invariants import State

PENDING, REVIEW, APPROVED = (
    RewardStatus.PENDING,
    RewardStatus.REVIEW,
    RewardStatus.APPROVED,
)
PAID, REJECTED, REVERSED = (
    RewardStatus.PAID,
    RewardStatus.REJECTED,
    RewardStatus.REVERSED,
)
OPEN = {PENDING, REVIEW, APPROVED}
#: A hold that never ends within a test: signup rewards are held from the real now.
FAR = datetime.max.replace(tzinfo=UTC)
HOLD_DAYS = {"first": 14, "share": 7, "milestone": 14, "renewal": 14}
#: REFERRALS_REFUND_SUSPICIOUS_DAYS: a refund this soon after the purchase flags.
REFUND_SUSPICIOUS = timedelta(days=14)
SHARE_PERCENT, SHARE_CAP, MILESTONE = Decimal("12.5"), 2500, 2
#: Renewals earn this share for this many months from the first conversion, up to
#: the cap per referred customer.
RENEWAL_PERCENT, RENEWAL_MONTHS, RENEWAL_CAP = Decimal(20), 2, 3000
#: Rules whose rewards are a percentage (a partial refund takes back its share).
PERCENT_RULES = ("share", "renewal")
_DECISIONS = {
    "approve": ({PENDING, REVIEW}, APPROVED),
    "reject": (OPEN, REJECTED),
    "pay": ({APPROVED}, PAID),
}

Key = tuple[str, str, int]  # rule, source, recipient
LineKey = tuple[int, int, str]  # batch id, recipient, currency


@dataclass
class ModelReward:
    amount: int
    currency: str
    status: RewardStatus
    hold_until: datetime
    conversion: str | None
    referral: int | None = None  # the referral it is paid for (None: adjustments)
    id: int | None = None  # known once the database shows it
    granted: int = 0  # the amount it was granted with (partial refunds reduce it)
    adjusts: "Key | None" = None  # for a clawback: the paid reward's key
    line: "LineKey | None" = None  # the open payout line holding it


@dataclass
class ModelConversion:
    id: int
    user_id: int
    amount: int
    currency: str
    occurred_at: datetime
    kind: str = "purchase"
    refunded: bool = False
    refunded_minor: int = 0
    held: bool = False


@dataclass
class Model(PayoutModel):
    clock: datetime
    #: When the run started: refunds happen at the real time, a little after it.
    started: datetime
    referrals: dict[int, tuple[int, int]] = field(default_factory=dict)
    flagged: set[int] = field(default_factory=set)
    converted_users: set[int] = field(default_factory=set)
    converted_at: dict[int, datetime] = field(default_factory=dict)
    conversions: dict[str, ModelConversion] = field(default_factory=dict)
    rewards: dict[Key, ModelReward] = field(default_factory=dict)
    #: Payout lines: their rewards and status (open, paid, failed).
    lines: dict[LineKey, tuple[list[Key], str]] = field(default_factory=dict)

    def signed_up(self, user_id: int, referrer: int | None, referral_id) -> None:
        if referrer is not None:
            self.referrals[user_id] = (referral_id, referrer)
            key = ("welcome", f"referral:{referral_id}", referrer)
            self._grant(key, 200, "EUR", referral=referral_id)

    def converted(
        self, external_id, conversion_id, user_id, amount, currency, kind="purchase"
    ) -> None:
        self.conversions[external_id] = ModelConversion(
            conversion_id, user_id, amount, currency, occurred_at=self.clock, kind=kind
        )
        if user_id not in self.referrals:
            return
        referral_id, referrer = self.referrals[user_id]
        first = user_id not in self.converted_users
        self.converted_users.add(user_id)
        self.converted_at.setdefault(user_id, self.clock)
        grant = lambda key, amount, currency: self._grant(  # noqa: E731
            key, amount, currency, external_id, referral=referral_id
        )
        grant(("first", f"referral:{referral_id}", referrer), 1000, "USD")
        grant(("first", f"referral:{referral_id}", user_id), 500, "USD")
        share = _percent(amount, SHARE_PERCENT)
        left = SHARE_CAP - self._earned("share", referrer, currency)
        grant(
            ("share", f"conversion:{conversion_id}", referrer),
            min(share, left),
            currency,
        )
        if first and self._qualified(referrer) == MILESTONE:
            grant(("milestone", f"milestone:{MILESTONE}", referrer), 700, "USD")
        window = add_months(self.converted_at[user_id], RENEWAL_MONTHS)
        if kind == "renewal" and self.clock < window:
            left = RENEWAL_CAP - self._earned(
                "renewal", referrer, currency, referral=referral_id
            )
            grant(
                ("renewal", f"conversion:{conversion_id}", referrer),
                min(_percent(amount, RENEWAL_PERCENT), left),
                currency,
            )

    def refunded(self, external_id: str) -> None:
        """A full refund through the API (or a partial one reaching the whole)."""
        conversion = self.conversions[external_id]
        if conversion.refunded:
            return
        conversion.refunded = True
        conversion.refunded_minor = conversion.amount
        total = max(conversion.amount, 1)
        for key, reward in self._originals(external_id):
            self._bring_to(key, reward, 0, total)
        self._flag_if_refunded_soon(conversion)

    def partially_refunded(self, external_id: str, total: int) -> bool:
        """A refunded total (cumulative); whether anything changed."""
        conversion = self.conversions[external_id]
        total = min(total, conversion.amount)
        if conversion.refunded or total <= conversion.refunded_minor:
            return False
        if total >= conversion.amount:
            self.refunded(external_id)
            return True
        conversion.refunded_minor = total
        kept_part = Decimal(conversion.amount - total) / conversion.amount
        for key, reward in self._originals(external_id):
            if key[0] in PERCENT_RULES:
                kept = int(
                    (reward.granted * kept_part).quantize(
                        Decimal(1), rounding=ROUND_HALF_UP
                    )
                )
                self._bring_to(key, reward, kept, total)
        return True

    def disputed(self, external_id: str, *, open_: bool) -> None:
        self.conversions[external_id].held = open_

    def _originals(self, external_id: str):
        return [
            (key, reward)
            for key, reward in list(self.rewards.items())
            if reward.conversion == external_id and key[0] != "adjustment"
        ]

    def _bring_to(self, key: Key, reward: ModelReward, kept: int, total: int) -> None:
        """An unpaid reward is reduced (or reversed), a paid one clawed back, and so
        is one being paid (or already clawed back once): the payout pays it whole."""
        being_paid = reward.status == APPROVED and self._paying_or_adjusted(key)
        if reward.status in OPEN and not being_paid:
            if kept <= 0:
                reward.status = REVERSED
            elif kept < reward.amount:
                reward.amount = kept
        elif reward.status == PAID or being_paid:
            taken = self._taken(key)
            owed = reward.amount - kept - taken
            if owed <= 0:
                return
            suffix = "" if kept == 0 and taken == 0 else f":{total}"
            adjustment = ("adjustment", f"adjustment:{reward.id}{suffix}", key[2])
            self.rewards[adjustment] = ModelReward(
                -owed,
                reward.currency,
                APPROVED,
                self.clock,
                reward.conversion,
                adjusts=key,
            )

    def _paying_or_adjusted(self, key: Key) -> bool:
        reward = self.rewards[key]
        return reward.line is not None or any(
            r.adjusts == key for r in self.rewards.values()
        )

    def _taken(self, paid_key: Key) -> int:
        """What clawbacks took back of a paid reward so far."""
        return -sum(
            r.amount
            for r in self.rewards.values()
            if r.adjusts == paid_key and r.status not in (REJECTED, REVERSED)
        )

    def _flag_if_refunded_soon(self, conversion: ModelConversion) -> None:
        """A quick refund flags the referral: its approved rewards go back to review.

        The refund happens at the real time, seconds after `started`; a conversion
        dated exactly the suspicious period before `started` is just past it.
        """
        if conversion.user_id not in self.referrals:
            return
        if self.started - conversion.occurred_at >= REFUND_SUSPICIOUS:
            return
        referral_id, _ = self.referrals[conversion.user_id]
        if referral_id in self.flagged:
            return  # no new signal, nothing moves
        self.flagged.add(referral_id)
        for reward in self.rewards.values():
            if reward.referral == referral_id and reward.status == APPROVED:
                if reward.line is None:  # a batched reward moves with its batch
                    reward.status = REVIEW

    def processed(self) -> tuple[int, int, int]:
        """Release pending rewards whose hold is over; (approved, review, rejected)."""
        moved = Counter()
        for (rule, _, _), reward in self.rewards.items():
            if self._held(reward):
                continue  # a disputed payment's rewards wait for its outcome
            if reward.status == PENDING and reward.hold_until <= self.clock:
                review = rule == "share" or reward.referral in self.flagged
                reward.status = REVIEW if review else APPROVED
                moved[reward.status] += 1
        return moved[APPROVED], moved[REVIEW], 0

    def decided(self, key: Key, action: str, *, now: datetime) -> bool:
        """Apply an admin's decision if the rules allow it; whether they did."""
        reward = self.rewards[key]
        allowed, target = _DECISIONS[action]
        on_hold = reward.status == PENDING and reward.hold_until > now
        if reward.status not in allowed or (action == "approve" and on_hold):
            return False
        if action != "reject" and self._held(reward):
            return False
        if reward.status == APPROVED and reward.line is not None:
            return False  # paid with its batch only
        if action == "reject" and any(r.adjusts == key for r in self.rewards.values()):
            return False  # clawbacks recorded against it: paid and netted
        reward.status = target
        return True

    def _held(self, reward: ModelReward) -> bool:
        conversion = self.conversions.get(reward.conversion or "")
        return conversion is not None and conversion.held

    def differences(self, state: "State") -> list[str]:
        """Where the database differs from the model (and learn the reward ids)."""
        external = {c.id: c.external_id for c in state.conversions}
        stored = {
            (r.rule, r.source_key, r.user_id): (
                r.amount_minor,
                r.currency,
                r.status,
                external.get(r.conversion_id),
            )
            for r in state.rewards
        }
        expected = {
            key: (m.amount, m.currency, m.status, m.conversion)
            for key, m in self.rewards.items()
        }
        for row in state.rewards:
            if model := self.rewards.get((row.rule, row.source_key, row.user_id)):
                model.id = row.id
        problems = [
            f"reward {key}: database {stored.get(key)}, model {expected.get(key)}"
            for key in sorted(set(stored) | set(expected))
            if stored.get(key) != expected.get(key)
        ]
        conversions = {
            c.external_id: (
                c.id,
                c.user_id,
                c.amount_minor,
                c.currency,
                c.kind,
                bool(c.refunded_at),
                c.refunded_minor,
                c.held_reason is not None,
            )
            for c in state.conversions
        }
        modelled = {
            e: (
                c.id,
                c.user_id,
                c.amount,
                c.currency,
                c.kind,
                c.refunded,
                c.refunded_minor,
                c.held,
            )
            for e, c in self.conversions.items()
        }
        if conversions != modelled:
            problems.append(f"conversions {conversions} != model {modelled}")
        converted = {r.referred_id for r in state.referrals if r.converted_at}
        if converted != self.converted_users:
            problems.append(f"converted {converted} != model {self.converted_users}")
        return problems

    def _grant(
        self, key: Key, amount: int, currency: str, conversion=None, *, referral
    ) -> None:
        if amount > 0 and key not in self.rewards:
            hold = timedelta(days=HOLD_DAYS[key[0]]) if key[0] in HOLD_DAYS else None
            self.rewards[key] = ModelReward(
                amount,
                currency,
                PENDING,
                self.clock + hold if hold else FAR,
                conversion,
                referral,
                granted=amount,
            )

    def _earned(self, rule: str, user_id: int, currency: str, referral=None) -> int:
        """What counts toward a cap: what is kept of rewards, less clawbacks."""
        return sum(
            r.amount - self._taken(key)
            for key, r in self.rewards.items()
            if (key[0], key[2], r.currency) == (rule, user_id, currency)
            and r.status not in (REJECTED, REVERSED)
            and (referral is None or r.referral == referral)
        )

    def _qualified(self, referrer: int) -> int:
        return sum(
            1
            for user_id, (_, by) in self.referrals.items()
            if by == referrer and user_id in self.converted_users
        )


def _percent(amount: int, percent: Decimal) -> int:
    exact = Decimal(amount) * percent / 100
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
