"""The core of every reward change: rules in force, the guarded move, its history."""

from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import Flask, current_app

from referral_site.referrals import signals
from referral_site.referrals.outbox import events as outbox
from referral_site.referrals.payouts.models import LineStatus, PayoutItem, PayoutLine
from referral_site.referrals.program import cache as program_cache
from referral_site.referrals.rewards import totals as reward_totals
from referral_site.referrals.rewards.currencies import is_currency
from referral_site.referrals.rewards.rules import Rule, RuleConfigError
from referral_site.referrals.storage.models import Reward, RewardEvent, RewardStatus
from referral_site.referrals.users import user_sql

#: The reason recorded when a referral is confirmed as abuse.
ABUSE_REASON = "referral confirmed as abuse"
#: Name of the rule recorded on negative adjustments (clawbacks of paid rewards).
ADJUSTMENT_RULE = "adjustment"
#: The statuses of a reward not yet settled (paid, rejected or reversed).
OPEN = (RewardStatus.PENDING, RewardStatus.REVIEW, RewardStatus.APPROVED)


class RewardError(Exception):
    """A reward rule or transition refused the request; the message is safe to show."""


def init_app(app: Flask) -> None:
    """Check the configured program once; a bad rule stops the app at startup."""
    currency = app.config["REFERRALS_DEFAULT_CURRENCY"]
    if not is_currency(currency):
        raise ValueError(f"REFERRALS_DEFAULT_CURRENCY {currency!r} is not ISO 4217.")
    program_cache.init_app(app)
    program = program_cache.program_cache(app).peek()
    unverifiable = app.extensions["referrals"].users.email_verified is None
    if unverifiable and (names := [r.name for r in program.rules if r.verified_email]):
        raise RuleConfigError(unverifiable_message(names[0]))


def unverifiable_message(rule_name: str) -> str:
    """Why a rule with verified_email cannot work on a host that has no verified
    state for its users."""
    return (
        f"Reward rule {rule_name!r}, verified_email: the user model has no "
        "email_verified_at (or email_verified) attribute; set "
        "REFERRALS_USER_EMAIL_VERIFIED to the attribute or a callable telling it."
    )


def active_rules() -> list[Rule]:
    """The reward rules in force (the latest saved program's, or the config's)."""
    return list(program_cache.in_force().rules)


def rule_of(version: int | None, name: str) -> Rule | None:
    """The rule that granted a reward: by name, in the program version it was
    granted under (None: the configuration's program); None if not there."""
    try:
        program = program_cache.program_cache().version(version)
    except LookupError:
        return None
    return program.rule_named(name)


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
    user = user_sql(User)
    session.execute(sa.select(user.id).where(user.id == user_id).with_for_update())


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


@dataclass(frozen=True)
class _Row:
    id: int
    user_id: int
    status: RewardStatus
    amount_minor: int
    currency: str


def open_payout_batch(session, reward_id: int) -> int | None:
    """The open payout batch holding a reward (it is being paid), or None."""
    return session.scalar(
        sa.select(PayoutLine.batch_id)
        .join(PayoutItem, PayoutItem.line_id == PayoutLine.id)
        .where(
            PayoutItem.reward_id == reward_id,
            PayoutItem.released_at.is_(None),
            PayoutLine.status == LineStatus.OPEN,
        )
    )


def _held_for_payout(session, reward_id, to_status) -> str | None:
    """Why an approved reward cannot move: it is being paid, or refunds were
    recorded against it as clawbacks (then it is paid and they net it off)."""
    batch = open_payout_batch(session, reward_id)
    if batch is not None:
        return (
            f"Reward #{reward_id} is in payout batch #{batch}; it is paid with "
            "the batch (fail its line to take it out)."
        )
    if to_status in (RewardStatus.REJECTED, RewardStatus.REVERSED) and session.scalar(
        sa.select(sa.exists().where(Reward.adjusts_reward_id == reward_id))
    ):
        return (
            f"Reward #{reward_id} has clawbacks recorded against it: it is paid "
            "and they come off the same payout."
        )
    return None


def move(
    session,
    reward_id,
    to_status,
    *,
    allowed,
    actor_id,
    reason,
    notices,
    by_payout: bool = False,
):
    """Change a reward's status if it is still in an allowed one; else a message.

    A reward in an open payout batch moves only with its batch (``by_payout``):
    the file sent to the provider pays it, so nobody may reject or pay it alone.
    """
    # Locked (FOR UPDATE) before the batch check: a batch being created holds its
    # rewards' rows, so this waits for it and then sees its items.
    row = session.execute(
        sa.select(
            Reward.id,
            Reward.user_id,
            Reward.status,
            Reward.amount_minor,
            Reward.currency,
            Reward.created_at,
        )
        .where(Reward.id == reward_id)
        .with_for_update()
    ).first()
    if row is None:
        return f"Reward #{reward_id} does not exist."
    if row.status not in allowed:
        return (
            f"Reward #{reward_id} is {row.status.value}; "
            f"it cannot become {to_status.value}."
        )
    if row.status == RewardStatus.APPROVED and not by_payout:
        if problem := _held_for_payout(session, reward_id, to_status):
            return problem
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
    outbox.reward_status_changed(
        session, reward_id, row.user_id, row.status, to_status, reason
    )
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
