"""The rewards engine: rules in force, the reward lifecycle, process-rewards, review.

Granting lives in rewards/grants.py, reads (balances, queue) in rewards/queries.py.

Lifecycle: pending (in hold) -> approved -> paid, or review (an admin must decide),
rejected, and reversed (source conversion refunded before payment). A refund after
payment adds a negative "adjustment" reward instead. Every change is a conditional
UPDATE (``WHERE status = <what we saw>``), so two deciders cannot both win, plus an
append-only RewardEvent; balances are sums over those events.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.exc import IntegrityError

from referral_site.referrals import signals
from referral_site.referrals.rewards import totals as reward_totals
from referral_site.referrals.rewards.currencies import is_currency
from referral_site.referrals.rewards.rules import Rule, parse_rules
from referral_site.referrals.storage.models import (
    Referral,
    ReviewStatus,
    Reward,
    RewardEvent,
    RewardStatus,
    utcnow,
)
from referral_site.referrals.storage.transactions import write_transaction
from referral_site.referrals.users import user_sql

#: The reason recorded when a referral is confirmed as abuse.
ABUSE_REASON = "referral confirmed as abuse"
#: Name of the rule recorded on negative adjustments (clawbacks of paid rewards).
ADJUSTMENT_RULE = "adjustment"
_OPEN = (RewardStatus.PENDING, RewardStatus.REVIEW, RewardStatus.APPROVED)
_ACTIONS = {
    # action: (statuses it may start from, status it leads to)
    "approve": ((RewardStatus.PENDING, RewardStatus.REVIEW), RewardStatus.APPROVED),
    "reject": (_OPEN, RewardStatus.REJECTED),
    "pay": ((RewardStatus.APPROVED,), RewardStatus.PAID),
}


class RewardError(Exception):
    """A reward rule or transition refused the request; the message is safe to show."""


def init_app(app: Flask) -> None:
    """Parse the configured rules once; a bad rule stops the app at startup."""
    currency = app.config["REFERRALS_DEFAULT_CURRENCY"]
    if not is_currency(currency):
        raise ValueError(f"REFERRALS_DEFAULT_CURRENCY {currency!r} is not ISO 4217.")
    app.extensions["referrals_rewards"] = parse_rules(
        app.config["REFERRALS_REWARD_RULES"],
        default_currency=currency,
        hold_days=app.config["REFERRALS_REWARD_HOLD_DAYS"],
    )


def active_rules() -> list[Rule]:
    """The current app's reward rules."""
    return current_app.extensions["referrals_rewards"]


def _rule(name: str) -> Rule | None:
    return next((rule for rule in active_rules() if rule.name == name), None)


@dataclass
class Notices:
    """Signals to send once the transaction has committed (never for a rollback)."""

    pending: list = field(default_factory=list)

    def add(self, signal, **kwargs) -> None:
        self.pending.append((signal, kwargs))

    def send(self) -> None:
        app = current_app._get_current_object()
        for signal, kwargs in self.pending:
            signal.send(app, **kwargs)


def lock_user(session, user_id: int) -> None:
    """Hold a referrer's row until commit, so caps and milestones count correctly.

    On SQLite the write transaction's BEGIN IMMEDIATE already serializes writers.
    """
    User = current_app.extensions["referrals"].user_model
    session.execute(
        sa.select(user_sql(User).id)
        .where(user_sql(User).id == user_id)
        .with_for_update()
    )


def record_event(session, reward_id, old_status, reward_or_row, actor_id, reason):
    """Append one change of a reward to its history."""
    session.add(
        RewardEvent(
            reward_id=reward_id,
            from_status=old_status,
            to_status=reward_or_row.status,
            amount_minor=reward_or_row.amount_minor,
            currency=reward_or_row.currency,
            actor_id=actor_id,
            reason=reason[:500],
        )
    )


# -- transitions ------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    id: int
    user_id: int
    status: RewardStatus
    amount_minor: int
    currency: str


def _move(session, reward_id, to_status, *, allowed, actor_id, reason, notices):
    """Change a reward's status if it is still in an allowed one; else a message."""
    row = session.execute(
        sa.select(
            Reward.id,
            Reward.user_id,
            Reward.status,
            Reward.amount_minor,
            Reward.currency,
            Reward.created_at,
        ).where(Reward.id == reward_id)
    ).first()
    if row is None:
        return f"Reward #{reward_id} does not exist."
    if row.status not in allowed:
        return (
            f"Reward #{reward_id} is {row.status.value}; "
            f"it cannot become {to_status.value}."
        )
    changed = session.execute(
        sa.update(Reward)
        .where(Reward.id == reward_id, Reward.status == row.status)
        .values(status=to_status)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        now = session.scalar(sa.select(Reward.status).where(Reward.id == reward_id))
        return (
            f"Reward #{reward_id} was changed by someone else meanwhile; "
            f"it is now {now.value}."
        )
    # A Core UPDATE fires no mapper event: the report's reward totals move here.
    reward_totals.move_status(session.connection(), row._mapping, to_status)
    moved = _Row(row.id, row.user_id, to_status, row.amount_minor, row.currency)
    record_event(session, reward_id, row.status, moved, actor_id, reason)
    notices.add(
        signals.reward_status_changed,
        reward_id=reward_id,
        user_id=row.user_id,
        old_status=row.status,
        new_status=to_status,
        actor_id=actor_id,
        reason=reason,
    )
    return None


@dataclass(frozen=True)
class Decision:
    """What a batch of admin decisions did: ids changed, and why others were not."""

    changed: list[int]
    problems: list[str]


def decide(
    reward_ids: list[int], action: str, *, actor_id: int, reason: str = ""
) -> Decision:
    """Approve, reject (reason required) or mark paid some rewards, in one transaction.

    Each reward moves only from a status the action allows; one that another admin
    moved first is reported in ``problems`` and left as it is.
    """
    if action not in _ACTIONS:
        raise RewardError(f"Unknown action {action!r}.")
    reason = (reason or "").strip()
    if action == "reject" and not reason:
        raise RewardError("Give a reason to reject.")
    allowed, to_status = _ACTIONS[action]
    changed, problems, notices = [], [], Notices()
    now = utcnow()
    with write_transaction() as session:
        # A fixed order, so two bulk decisions lock rows without deadlocking.
        for reward_id in sorted(set(reward_ids)):
            problem = _held(session, reward_id, now) if action == "approve" else None
            problem = problem or _move(
                session,
                reward_id,
                to_status,
                allowed=allowed,
                actor_id=actor_id,
                reason=reason or f"{action} by admin",
                notices=notices,
            )
            (problems.append(problem) if problem else changed.append(reward_id))
    notices.send()
    return Decision(changed=changed, problems=problems)


def _held(session, reward_id: int, now: datetime) -> str | None:
    row = session.execute(
        sa.select(Reward.status, Reward.hold_until).where(Reward.id == reward_id)
    ).first()
    if row and row.status == RewardStatus.PENDING and row.hold_until > now:
        return (
            f"Reward #{reward_id} is on hold until "
            f"{row.hold_until:%Y-%m-%d %H:%M} UTC (refunds may still come)."
        )
    return None


def reverse_for_refund(session, conversion_id: int, *, actor_id, reason, notices):
    """Reverse a refunded conversion's unpaid rewards; claw back the paid ones."""
    reward_ids = session.scalars(
        sa.select(Reward.id)
        .where(
            Reward.conversion_id == conversion_id, Reward.adjusts_reward_id.is_(None)
        )
        .order_by(Reward.id)
    ).all()
    for reward_id in reward_ids:
        problem = _move(
            session,
            reward_id,
            RewardStatus.REVERSED,
            allowed=_OPEN,
            actor_id=actor_id,
            reason=reason,
            notices=notices,
        )
        # Paid already (perhaps a moment ago, by an admin): record a clawback.
        status = session.scalar(sa.select(Reward.status).where(Reward.id == reward_id))
        if problem and status == RewardStatus.PAID:
            _adjust(
                session, reward_id, actor_id=actor_id, reason=reason, notices=notices
            )


def _adjust(session, paid_id: int, *, actor_id, reason, notices) -> None:
    paid = session.get(Reward, paid_id)
    adjustment = Reward(
        user_id=paid.user_id,
        referral_id=paid.referral_id,
        kind=paid.kind,
        amount_minor=-paid.amount_minor,
        currency=paid.currency,
        status=RewardStatus.APPROVED,
        rule=ADJUSTMENT_RULE,
        source_key=f"adjustment:{paid.id}",
        conversion_id=paid.conversion_id,
        adjusts_reward_id=paid.id,
        earned_at=utcnow(),
        hold_until=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(adjustment)
    except IntegrityError:
        return  # already clawed back
    record_event(session, adjustment.id, None, adjustment, actor_id, reason)
    notices.add(
        signals.reward_created,
        reward_id=adjustment.id,
        user_id=adjustment.user_id,
        rule=ADJUSTMENT_RULE,
        amount_minor=adjustment.amount_minor,
        currency=adjustment.currency,
        status=RewardStatus.APPROVED,
    )


# -- process-rewards and review decisions -------------------------------------------


@dataclass(frozen=True)
class Processed:
    """What one process-rewards run did."""

    approved: int
    to_review: int
    rejected: int = 0


def process_rewards(now: datetime | None = None, batch_size: int = 200) -> Processed:
    """Approve pending rewards whose hold has passed, or queue them for review.

    Rewards of a flagged referral (or of a rule requiring review) go to review; those
    of a referral confirmed as abuse are rejected. Safe to run concurrently: each
    batch locks its rows with FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite's BEGIN
    IMMEDIATE serializes runs), and each move is a conditional UPDATE, so a reward
    is decided once whoever gets to it.
    """
    now = now or utcnow()
    counts = Counter()
    while True:
        notices = Notices()
        with write_transaction() as session:
            rows = session.execute(
                sa.select(Reward.id, Reward.rule, Referral.review_status)
                .outerjoin(Referral, Referral.id == Reward.referral_id)
                .where(Reward.status == RewardStatus.PENDING, Reward.hold_until <= now)
                .order_by(Reward.id)
                .limit(batch_size)
                .with_for_update(skip_locked=True, of=Reward)
            ).all()
            for row in rows:
                target, reason = _release(row.rule, row.review_status)
                problem = _move(
                    session,
                    row.id,
                    target,
                    allowed=(RewardStatus.PENDING,),
                    actor_id=None,
                    reason=reason,
                    notices=notices,
                )
                counts[target] += problem is None
        notices.send()
        if len(rows) < batch_size:
            return Processed(
                approved=counts[RewardStatus.APPROVED],
                to_review=counts[RewardStatus.REVIEW],
                rejected=counts[RewardStatus.REJECTED],
            )


def _release(rule_name: str, review_status: ReviewStatus | None):
    """Where a reward goes when its hold is over, and why."""
    if review_status == ReviewStatus.CONFIRMED:
        return RewardStatus.REJECTED, ABUSE_REASON
    if review_status == ReviewStatus.FLAGGED:
        return RewardStatus.REVIEW, "hold over; referral flagged for review"
    rule = _rule(rule_name)
    if rule is None:
        # A rule removed from the configuration is paid only after a human looked.
        return RewardStatus.REVIEW, f"hold over; rule {rule_name} is not configured"
    if rule.review:
        return RewardStatus.REVIEW, "hold over; rule requires review"
    return RewardStatus.APPROVED, "hold over"


def apply_review_decision(
    referral_id: int, *, actor_id: int | None, reason: str
) -> int:
    """Re-evaluate a referral's unpaid rewards in a transaction of their own."""
    notices = Notices()
    with write_transaction() as session:
        referral = session.get(Referral, referral_id, populate_existing=True)
        if referral is None:
            raise RewardError("No such referral.")
        moved = reevaluate_rewards(
            session, referral, actor_id=actor_id, reason=reason, notices=notices
        )
    notices.send()
    return moved


def reevaluate_rewards(
    session, referral: Referral, *, actor_id: int | None, reason: str, notices
) -> int:
    """Move a referral's unpaid rewards to where its review_status says they belong.

    CONFIRMED rejects them ("referral confirmed as abuse"); FLAGGED sends approved ones
    back to review; CLEAR/CLEARED returns those waiting in review (and not held there
    by their rule) to pending, for process-rewards to approve. Runs inside the
    caller's transaction, so the status change and the moves commit together.
    Returns how many moved.
    """
    moved = 0
    rows = session.execute(
        sa.select(Reward.id, Reward.status, Reward.rule)
        .where(
            Reward.referral_id == referral.id,
            Reward.adjusts_reward_id.is_(None),
            Reward.status.in_(_OPEN),
        )
        .order_by(Reward.id)
    ).all()
    for row in rows:
        target = _after_review(referral.review_status, row)
        if target is None:
            continue
        note = ABUSE_REASON if target == RewardStatus.REJECTED else reason
        problem = _move(
            session,
            row.id,
            target,
            allowed=(row.status,),
            actor_id=actor_id,
            reason=note or f"referral {referral.review_status.value}",
            notices=notices,
        )
        moved += problem is None
    return moved


def _after_review(review_status: ReviewStatus, row) -> RewardStatus | None:
    if review_status == ReviewStatus.CONFIRMED:
        return RewardStatus.REJECTED
    if review_status == ReviewStatus.FLAGGED:
        return RewardStatus.REVIEW if row.status == RewardStatus.APPROVED else None
    rule = _rule(row.rule)
    if row.status == RewardStatus.REVIEW and rule is not None and not rule.review:
        return RewardStatus.PENDING
    return None
