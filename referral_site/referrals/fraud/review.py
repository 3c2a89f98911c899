"""Fraud flags: signals stored on referrals, flagging, and the admins' reviews.

A soft signal never blocks anything: the referral is kept, its signals are stored
with it and its review status becomes FLAGGED, so its rewards wait for an admin
(who clears or confirms the flag, recorded in ``referral_flag_events``).
"""

from collections.abc import Iterable
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals import signals as notify
from referral_site.referrals.fraud.evidence import (  # noqa: F401 (also fraud's API)
    Signal,
    comparison_email,
    mailbox_digest,
    shared_session_signals,
)
from referral_site.referrals.fraud.models import (
    FlagAction,
    FraudSignal,
    ReferralFlagEvent,
    ReferralSignalRecord,
    SignalStage,
)
from referral_site.referrals.outbox import events as outbox
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.storage.models import Referral, ReviewStatus
from referral_site.referrals.storage.transactions import write_transaction
from referral_site.referrals.users import user_fields

#: Longest reason an admin can give (the column's size).
REASON_MAX_LENGTH = 500


class ReviewError(Exception):
    """A flag decision was refused; the message is safe to show."""


class ReferralNotFound(ReviewError):
    """No referral has this id."""


def apply_signals(
    session, referral: Referral, found: Iterable[Signal], stage: SignalStage
) -> list[Signal]:
    """Store the signals a referral does not have yet and flag it; returns those new.

    Runs inside the caller's transaction. New evidence re-flags a referral an admin
    had cleared; a confirmed one stays confirmed.
    """
    have = set(
        session.scalars(
            sa.select(ReferralSignalRecord.name).where(
                ReferralSignalRecord.referral_id == referral.id
            )
        )
    )
    new: dict[FraudSignal, Signal] = {}
    for signal in found:
        if signal.name not in have and signal.name not in new:
            new[signal.name] = signal
    if not new:
        return []
    _store_signals(session, referral, new, stage)
    return list(new.values())


def _store_signals(
    session, referral: Referral, new: dict[FraudSignal, Signal], stage: SignalStage
) -> None:
    if referral.review_status in (ReviewStatus.CLEAR, ReviewStatus.CLEARED):
        referral.review_status = ReviewStatus.FLAGGED
    session.flush()
    # Rows nothing reads back in the transaction: plain INSERTs built once.
    connection = session.connection()
    connection.execute(
        _INSERT_SIGNAL,
        [
            {
                "referral_id": referral.id,
                "name": signal.name,
                "stage": stage,
                "detail": signal.detail[:255],
            }
            for signal in new.values()
        ],
    )
    connection.execute(
        _INSERT_FLAG_EVENT,
        {
            "referral_id": referral.id,
            "action": FlagAction.FLAGGED,
            "actor_id": None,
            "reason": "Signals at " + stage.value + ": " + ", ".join(new),
        },
    )


_INSERT_SIGNAL = sa.insert(ReferralSignalRecord)
_INSERT_FLAG_EVENT = sa.insert(ReferralFlagEvent)


def flag_new_referral(
    session, referral: Referral, found: list[Signal], notices
) -> list[FraudSignal]:
    """Insert a referral the signup creates, flagged with its signals if it has any.

    The referral must be new (added, not flushed): it has no signals and no rewards
    yet, so, unlike flag_with_rewards, nothing is read back or re-evaluated, and it
    is inserted with its review status rather than updated afterwards. Returns
    the names of its signals (the caller writes the outbox event).
    """
    new: dict[FraudSignal, Signal] = {}
    for signal in found:
        new.setdefault(signal.name, signal)
    if new:
        referral.review_status = ReviewStatus.FLAGGED
    session.flush()  # the referral's id, for its signals
    if new:
        _store_signals(session, referral, new, SignalStage.SIGNUP)
        notices.add(notify.referral_flagged, referral_id=referral.id, signals=list(new))
    return list(new)


def _locked_referral(session, referral_id: int) -> Referral:
    referral = session.get(Referral, referral_id, with_for_update=True)
    if referral is None:
        raise ReferralNotFound("No such referral.")
    return referral


def _as_signal(value: Signal | FraudSignal | str) -> Signal:
    return value if isinstance(value, Signal) else Signal(FraudSignal(value))


def flag_referral(
    referral_id: int, signals: Iterable[Signal | FraudSignal | str]
) -> list[Signal]:
    """Add signals to a referral and flag it; idempotent (known signals are skipped)."""
    wanted = [_as_signal(signal) for signal in signals]
    notices = rewards.Notices()
    with write_transaction() as session:
        referral = _locked_referral(session, referral_id)
        new = flag_with_rewards(session, referral, wanted, SignalStage.MANUAL, notices)
    notices.send()
    return new


def flag_with_rewards(
    session, referral: Referral, found: list[Signal], stage: SignalStage, notices
) -> list[Signal]:
    """Store new signals, then send the referral's approved rewards back to review.

    Runs in the caller's transaction: the flag and the rewards it stops commit
    together, so no reward stays approved on a referral that is now flagged.
    """
    new = apply_signals(session, referral, found, stage)
    if new:
        rewards.reevaluate_rewards(
            session,
            referral,
            actor_id=None,
            reason="referral flagged: " + ", ".join(signal.name for signal in new),
            notices=notices,
        )
        names = [signal.name for signal in new]
        outbox.referral_flagged(session, referral, names)
        notices.add(notify.referral_flagged, referral_id=referral.id, signals=names)
    return new


def score_conversion(
    session,
    referral: Referral,
    *,
    notices,
    refunded_within: timedelta | None = None,
) -> list[Signal]:
    """Score a referral again when it converts (or is refunded); returns new signals.

    Runs inside the conversion's (or refund's) transaction, which must hold the
    referral's row, so the flag and the rewards granted or reversed agree. The
    referrer may have used the referred person's browser or network since the
    signup, so the shared-session signals are checked again; a refund within
    REFERRALS_REFUND_SUSPICIOUS_DAYS adds ``refunded_soon``.
    """
    found = shared_session_signals(referral)
    limit = timedelta(days=current_app.config["REFERRALS_REFUND_SUSPICIOUS_DAYS"])
    if refunded_within is not None and refunded_within <= limit:
        days = refunded_within.total_seconds() / 86400
        found.append(
            Signal(FraudSignal.REFUNDED_SOON, f"Refunded {days:.1f} days after.")
        )
    return flag_with_rewards(session, referral, found, SignalStage.CONVERSION, notices)


def _decide(
    referral_id: int, decision: ReviewStatus, *, admin_id: int, reason: str
) -> None:
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError("Give a reason for the decision.")
    if len(reason) > REASON_MAX_LENGTH:
        raise ReviewError(f"Keep the reason under {REASON_MAX_LENGTH} characters.")
    User = current_app.extensions["referrals"].user_model
    notices = rewards.Notices()
    with write_transaction() as session:
        admin = session.get(User, admin_id)
        if admin is None or not user_fields().is_admin(admin):
            raise ReviewError("Only an admin can decide on a flag.")
        referral = _locked_referral(session, referral_id)
        if referral.review_status != ReviewStatus.FLAGGED:
            raise ReviewError("This referral is not waiting for a review.")
        referral.review_status = decision
        action = FlagAction(decision.value)
        session.add(
            ReferralFlagEvent(
                referral_id=referral_id, action=action, actor_id=admin_id, reason=reason
            )
        )
        # Same transaction: the decision and the rewards it moves commit together.
        rewards.reevaluate_rewards(
            session, referral, actor_id=admin_id, reason=reason, notices=notices
        )
        outbox.referral_review_decided(session, referral, decision, reason)
    notices.send()
    notify.referral_review_decided.send(
        current_app._get_current_object(),
        referral_id=referral_id,
        decision=decision,
        admin_id=admin_id,
        reason=reason,
    )


def clear_flag(referral_id: int, *, admin_id: int, reason: str) -> None:
    """An admin lets a flagged referral through: its rewards follow the rules again."""
    _decide(referral_id, ReviewStatus.CLEARED, admin_id=admin_id, reason=reason)


def confirm_flag(referral_id: int, *, admin_id: int, reason: str) -> None:
    """An admin confirms abuse: the referral's unpaid rewards are to be rejected."""
    _decide(referral_id, ReviewStatus.CONFIRMED, admin_id=admin_id, reason=reason)
