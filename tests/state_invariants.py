"""The reward invariants, checked on the database's state after every step.

Every reward has its source, one reward per rule, source and recipient, each
reward's history chains to its status and amount, the balances users see equal
that history, and a paid reward never changes.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass

import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.payouts.models import LineStatus, PayoutItem, PayoutLine
from referral_site.referrals.storage.models import (
    Conversion,
    Referral,
    Reward,
    RewardEvent,
    RewardStatus,
)

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


@dataclass(frozen=True)
class State:
    rewards: list
    events: list
    conversions: list
    referrals: list
    payout_lines: list
    payout_items: list


def load() -> State:
    """Every row the invariants look at, read in one go."""

    def everything(model, order):
        return db.session.execute(sa.select(model.__table__).order_by(order)).all()

    return State(
        rewards=everything(Reward, Reward.id),
        events=everything(RewardEvent, RewardEvent.id),
        conversions=everything(Conversion, Conversion.id),
        referrals=everything(Referral, Referral.id),
        payout_lines=everything(PayoutLine, PayoutLine.id),
        payout_items=everything(PayoutItem, PayoutItem.id),
    )


def invariant_problems(state: State, before: State | None) -> list[str]:
    """What breaks the reward invariants now, or since the state ``before``."""
    problems = _sourceless(state) + _history_breaks(state) + _payout_breaks(state)
    grants = Counter((r.rule, r.source_key, r.user_id) for r in state.rewards)
    problems += [f"{key} granted {n} times" for key, n in grants.items() if n > 1]
    if before is not None:
        now = {r.id: r for r in state.rewards}
        problems += [
            f"paid reward {r.id} changed: {r} -> {now.get(r.id)}"
            for r in before.rewards
            if r.status == PAID and now.get(r.id) != r
        ]
        events = set(state.events)
        problems += [f"event {e.id} changed" for e in before.events if e not in events]
    return problems


def _sourceless(state: State) -> list[str]:
    batched = {item.reward_id for item in state.payout_items}
    conversions = {c.id for c in state.conversions}
    referrals = {r.id for r in state.referrals}
    rewards = {r.id: r for r in state.rewards}
    problems = []
    for r in state.rewards:
        if not _has_source(r, rewards, conversions, batched) or (
            r.referral_id and r.referral_id not in referrals
        ):
            problems.append(f"reward {r.id} ({r.rule}, {r.source_key}) has no source")
        if r.conversion_id is not None and r.conversion_id not in conversions:
            problems.append(f"reward {r.id} points to a missing conversion")
        if r.source_key.startswith("referral:") and r.referral_id not in referrals:
            problems.append(f"reward {r.id} points to a missing referral")
    return problems


def _has_source(r, rewards: dict, conversions: set, batched: set) -> bool:
    kind, _, value = r.source_key.partition(":")
    if kind == "referral":
        return r.referral_id == int(value)
    if kind == "conversion":
        return r.conversion_id == int(value) and r.conversion_id in conversions
    if kind == "manual":  # an admin's reward or deduction, by hand
        return r.rule in ("manual", "manual-deduction") and not r.conversion_id
    if kind == "milestone":
        return r.conversion_id in conversions
    if kind == "adjustment":
        paid = rewards.get(r.adjusts_reward_id)
        clawed = sum(
            a.amount_minor
            for a in rewards.values()
            if a.adjusts_reward_id == r.adjusts_reward_id
            and a.status not in (REJECTED, REVERSED)
        )
        return (
            paid is not None
            and value.split(":")[0] == str(paid.id)
            # Paid, or refunded while a payout batch was paying it.
            and (
                paid.status == PAID or (paid.status == APPROVED and paid.id in batched)
            )
            and 0 < -r.amount_minor <= paid.amount_minor
            and -clawed <= paid.amount_minor  # never more back than was paid
        )
    return False


def _payout_breaks(state: State) -> list[str]:
    """A reward is in at most one unreleased payout item and paid at most once;
    an open line holds approved rewards, a paid one paid rewards; a line pays the
    sum of its rewards, and a batched reward keeps the amount it was batched with."""
    rewards = {r.id: r for r in state.rewards}
    lines = {line.id: line for line in state.payout_lines}
    held = Counter(i.reward_id for i in state.payout_items if i.released_at is None)
    problems = [
        f"reward {rid} held by {n} payout items" for rid, n in held.items() if n > 1
    ]
    paid = Counter(
        e.reward_id
        for e in state.events
        if e.to_status == PAID and e.from_status != PAID
    )
    problems += [f"reward {rid} paid {n} times" for rid, n in paid.items() if n > 1]
    sums: Counter = Counter()
    for item in state.payout_items:
        line, reward = lines[item.line_id], rewards[item.reward_id]
        if item.released_at is not None:
            continue
        sums[line.id] += item.amount_minor
        wanted = PAID if line.status == LineStatus.PAID else APPROVED
        if reward.status != wanted or reward.amount_minor != item.amount_minor:
            problems.append(f"reward {reward.id} in line {line.id}: {reward}")
    problems += [
        f"line {line.id} pays {line.amount_minor}, its rewards {sums[line.id]}"
        for line in state.payout_lines
        if line.status != LineStatus.FAILED and line.amount_minor != sums[line.id]
    ]
    return problems


def _history_breaks(state: State) -> list[str]:
    """Each reward's events must chain from creation to its current status."""
    history = defaultdict(list)
    for event in state.events:
        history[event.reward_id].append(event)
    problems = []
    for r in state.rewards:
        chain = history.pop(r.id, [])
        statuses = [None] + [e.to_status for e in chain]
        if not chain or [e.from_status for e in chain] != statuses[:-1]:
            problems.append(f"reward {r.id}: history does not chain: {chain}")
        elif chain[-1].to_status != r.status:
            problems.append(f"reward {r.id} is {r.status}, history says otherwise")
        elif _amount_of(chain) != r.amount_minor or chain[-1].currency != r.currency:
            problems.append(f"reward {r.id}: history amounts differ")
    return problems + [f"events of a missing reward {rid}" for rid in history]


def _amount_of(chain) -> int | None:
    """The amount a reward's history comes to: set at creation, changed by events
    whose from and to statuses are equal; every move carries the amount it moves."""
    amount = None
    for event in chain:
        if event.from_status is None:
            amount = event.amount_minor
        elif event.from_status == event.to_status:
            amount += event.amount_minor
        elif event.amount_minor != amount:
            return None
    return amount


def balances_from_history(state: State, user_id: int) -> dict:
    """A user's (pending incl. review, approved, paid) per currency, from the events.

    Each event moves its amount out of its from_status and into its to_status.
    """
    owner = {r.id: r.user_id for r in state.rewards}
    mine = [e for e in state.events if owner.get(e.reward_id) == user_id]
    return _balances(
        move
        for e in mine
        for move in (
            (e.currency, e.to_status, e.amount_minor),
            # An amount change (from == to) adds its difference only once.
            (
                e.currency,
                e.from_status,
                0 if e.from_status == e.to_status else -e.amount_minor,
            ),
        )
    )


def balances_from_rows(rewards: list, user_id: int) -> dict:
    """A user's (pending incl. review, approved, paid) per currency, from rewards."""
    return _balances(
        (r.currency, r.status, r.amount_minor) for r in rewards if r.user_id == user_id
    )


#: The balance column each status's amount counts in: pending (review too),
#: approved, paid. Other statuses count in none.
_BALANCE_COLUMN = {PENDING: 0, REVIEW: 0, APPROVED: 1, PAID: 2}


def _balances(moves) -> dict:
    """Sum (currency, status, amount) moves into each currency's balance columns.

    A currency appears even when all its amounts are in no column (zeros), as on
    the page.
    """
    totals = defaultdict(lambda: [0, 0, 0])
    for currency, status, amount in moves:
        cell = totals[currency]
        if status in _BALANCE_COLUMN:
            cell[_BALANCE_COLUMN[status]] += amount
    return {currency: tuple(cell) for currency, cell in totals.items()}
