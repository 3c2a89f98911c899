"""The rewards engine: grant rewards by the configured rules and move them along.

Lifecycle: pending (in hold) -> approved -> paid, or review (an admin must decide),
rejected, and reversed (source conversion refunded before payment). A refund after
payment adds a negative "adjustment" reward instead. Every change is a conditional
UPDATE (``WHERE status = <what we saw>``), so two deciders cannot both win, plus an
append-only RewardEvent; balances are sums over those events.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.exc import IntegrityError

from referral_site.referrals import signals
from referral_site.referrals.currencies import is_currency
from referral_site.referrals.models import (
    Conversion,
    Referral,
    ReferralStatus,
    ReviewStatus,
    Reward,
    RewardEvent,
    RewardStatus,
    utcnow,
)
from referral_site.referrals.reward_rules import Rule, parse_rules
from referral_site.referrals.transactions import write_transaction

#: The reason recorded when a referral is confirmed as abuse.
ABUSE_REASON = "referral confirmed as abuse"
#: Name of the rule recorded on negative adjustments (clawbacks of paid rewards).
ADJUSTMENT_RULE = "adjustment"
_OPEN = (RewardStatus.PENDING, RewardStatus.REVIEW, RewardStatus.APPROVED)
_ACTIONS = {
    # action: (statuses it may start from, status it leads to, past tense)
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
    session.execute(sa.select(User.id).where(User.id == user_id).with_for_update())


# -- granting ---------------------------------------------------------------------


def grant_for_conversion(
    session, conversion: Conversion, referral: Referral | None, *, first: bool, notices
) -> None:
    """Apply the conversion rules to a new conversion (inside its transaction)."""
    if not _earns(referral):
        return
    for rule in active_rules():
        if rule.trigger == "milestone":
            if first:
                _grant_milestone(session, rule, conversion, referral, notices)
            continue
        if rule.trigger not in ("first_conversion", "every_conversion"):
            continue
        if not rule.matches(conversion.kind):
            continue
        source = (
            f"referral:{referral.id}"
            if rule.trigger == "first_conversion"
            else f"conversion:{conversion.id}"
        )
        _grant_both_sides(
            session,
            rule,
            referral,
            source_key=source,
            conversion=conversion,
            earned_at=conversion.occurred_at,
            notices=notices,
        )


def grant_signup_rewards(referral_id: int) -> list[int]:
    """Apply the signup rules to a referral; granting twice is a no-op."""
    notices = Notices()
    with write_transaction() as session:
        referrer_id = session.scalar(
            sa.select(Referral.referrer_id).where(Referral.id == referral_id)
        )
        if referrer_id is None:
            raise RewardError("No such referral.")
        lock_user(session, referrer_id)
        referral = session.get(Referral, referral_id, populate_existing=True)
        ids = []
        if _earns(referral):
            for rule in active_rules():
                if rule.trigger == "signup":
                    ids += _grant_both_sides(
                        session,
                        rule,
                        referral,
                        source_key=f"referral:{referral.id}",
                        conversion=None,
                        earned_at=referral.created_at,
                        notices=notices,
                    )
    notices.send()
    return ids


@signals.referral_created.connect
def _on_referral_created(_app, referral, **_extra) -> None:
    """Grant signup rewards right after a referred signup commits."""
    if any(rule.trigger == "signup" for rule in active_rules()):
        grant_signup_rewards(referral.id)


def _earns(referral: Referral | None) -> bool:
    return (
        referral is not None
        and referral.status != ReferralStatus.REJECTED
        and referral.review_status != ReviewStatus.CONFIRMED
    )


def _grant_both_sides(
    session, rule, referral, *, source_key, conversion, earned_at, notices
) -> list[int]:
    amount = conversion.amount_minor if conversion is not None else None
    sides = [
        (referral.referrer_id, rule.referrer_value, True),
        (referral.referred_id, rule.referred_value, False),
    ]
    ids = []
    for user_id, value, is_referrer in sides:
        if value is None:
            continue
        # A percentage is paid in the conversion's currency, a fixed amount in the
        # rule's.
        percent_of_conversion = value.percent is not None and conversion is not None
        reward_id = _grant(
            session,
            rule,
            referral=referral,
            user_id=user_id,
            amount=value.of(amount),
            currency=conversion.currency if percent_of_conversion else rule.currency,
            capped=is_referrer,
            source_key=source_key,
            conversion_id=conversion.id if conversion is not None else None,
            earned_at=earned_at,
            notices=notices,
        )
        if reward_id is not None:
            ids.append(reward_id)
    return ids


def _grant_milestone(session, rule, conversion, referral, notices) -> None:
    qualified = session.scalar(
        sa.select(sa.func.count(Referral.id)).where(
            Referral.referrer_id == referral.referrer_id,
            Referral.status == ReferralStatus.CONVERTED,
            Referral.review_status != ReviewStatus.CONFIRMED,
        )
    )
    if qualified not in rule.milestones:
        return
    _grant(
        session,
        rule,
        referral=referral,
        user_id=referral.referrer_id,
        amount=rule.referrer_value.amount,
        currency=rule.currency,
        capped=True,
        source_key=f"milestone:{qualified}",
        conversion_id=conversion.id,
        earned_at=conversion.occurred_at,
        notices=notices,
    )


def _grant(
    session,
    rule: Rule,
    *,
    referral: Referral,
    user_id: int,
    amount: int,
    currency: str,
    capped: bool,
    source_key: str,
    conversion_id: int | None,
    earned_at: datetime,
    notices: Notices,
) -> int | None:
    """Insert one reward unless it exists; the unique (rule, source, user) decides."""
    if capped:
        amount = _within_caps(session, rule, user_id, currency, amount, earned_at)
    if amount <= 0 or _granted(session, rule.name, source_key, user_id):
        return None
    reward = Reward(
        user_id=user_id,
        referral_id=referral.id,
        kind=rule.kind,
        amount_minor=amount,
        currency=currency,
        status=RewardStatus.PENDING,
        rule=rule.name,
        source_key=source_key,
        conversion_id=conversion_id,
        earned_at=earned_at,
        hold_until=earned_at + timedelta(days=rule.hold_days),
    )
    try:
        with session.begin_nested():
            session.add(reward)
    except IntegrityError:
        return None  # granted by a racing transaction: at most once holds
    _record(session, reward.id, None, reward, None, f"granted by rule {rule.name}")
    notices.add(
        signals.reward_created,
        reward_id=reward.id,
        user_id=user_id,
        rule=rule.name,
        amount_minor=amount,
        currency=currency,
        status=RewardStatus.PENDING,
    )
    return reward.id


def _granted(session, rule_name: str, source_key: str, user_id: int) -> bool:
    return session.scalar(
        sa.select(
            sa.exists().where(
                Reward.rule == rule_name,
                Reward.source_key == source_key,
                Reward.user_id == user_id,
            )
        )
    )


def _within_caps(session, rule, user_id, currency, amount, earned_at) -> int:
    """Cut an amount to what the rule's caps leave for this referrer."""
    earned = sa.select(sa.func.coalesce(sa.func.sum(Reward.amount_minor), 0)).where(
        Reward.rule == rule.name,
        Reward.user_id == user_id,
        Reward.currency == currency,
        Reward.adjusts_reward_id.is_(None),
        Reward.status.notin_((RewardStatus.REJECTED, RewardStatus.REVERSED)),
    )
    if rule.lifetime_cap is not None:
        amount = min(amount, rule.lifetime_cap - session.scalar(earned))
    if rule.monthly_cap is not None:
        start, end = month_bounds(earned_at)
        in_month = earned.where(Reward.earned_at >= start, Reward.earned_at < end)
        amount = min(amount, rule.monthly_cap - session.scalar(in_month))
    return amount


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The start of moment's calendar month (UTC) and of the next one."""
    moment = moment.astimezone(UTC)
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _record(session, reward_id, old_status, reward_or_row, actor_id, reason) -> None:
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
    moved = _Row(row.id, row.user_id, to_status, row.amount_minor, row.currency)
    _record(session, reward_id, row.status, moved, actor_id, reason)
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
    _record(session, adjustment.id, None, adjustment, actor_id, reason)
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
    """Re-evaluate a referral's unpaid rewards after its review_status changed.

    CONFIRMED rejects them ("referral confirmed as abuse"); FLAGGED sends approved ones
    back to review; CLEAR/CLEARED returns those waiting in review (and not held there
    by their rule) to pending, for process-rewards to approve. Returns how many moved.
    """
    notices, moved = Notices(), 0
    with write_transaction() as session:
        referral = session.get(Referral, referral_id, populate_existing=True)
        if referral is None:
            raise RewardError("No such referral.")
        rows = session.execute(
            sa.select(Reward.id, Reward.status, Reward.rule)
            .where(
                Reward.referral_id == referral_id,
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
    notices.send()
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
