"""The events the plugin writes to its outbox, and how each is written.

Every change the plugin announces is also written here, as a row of
``referrals_outbox_events``, by the transaction that makes the change: an event
exists if and only if its change committed. Background jobs hand each event to
every registered consumer (``outbox.consumers``): webhooks, emails...

An event has an ``id`` ("evt_" + 24 hex digits, unique: the ``webhook-id`` of
its deliveries and the key a consumer deduplicates on), a ``type``, a JSON
``payload`` and ``created_at``. Delivered, it is wrapped in a versioned envelope
(:func:`envelope`)::

    {"id": "evt_...", "type": "reward.created", "version": 1,
     "created_at": "2026-12-02T17:00:00Z", "data": {...payload...}}

User ids are the host's primary key values (integers stay integers; any other
key, a UUID say, is given as its string). Amounts are integer minor units with an
ISO 4217 currency. The types and their payloads (version 1):

``user.signed_up``
    ``user_id``, ``referral_id`` (None when nobody referred them).
``referral.created``
    ``referral_id``, ``referrer_id``, ``referred_id``, ``code``.
``referral.flagged``
    ``referral_id``, ``referrer_id``, ``referred_id``, ``signals`` (new signal
    names: "same_ip", "ip_velocity"...).
``referral.review_decided``
    ``referral_id``, ``referrer_id``, ``decision`` ("cleared" or "confirmed"),
    ``reason``.
``conversion.recorded``
    ``conversion_id``, ``user_id``, ``referrer_id`` (None if not referred),
    ``kind``, ``amount_minor``, ``currency``, ``external_id``.
``conversion.refunded``
    ``conversion_id``, ``user_id``, ``referrer_id``, ``amount_minor``,
    ``currency``.
``reward.created``
    ``reward_id``, ``user_id``, ``rule``, ``amount_minor``, ``currency``,
    ``status``, ``referral_id``.
``reward.status_changed``
    ``reward_id``, ``user_id``, ``old_status``, ``new_status``, ``reason``.
``webhook.endpoint_disabled``
    ``endpoint_id``, ``url``, ``reason``: an endpoint failing for days was turned
    off (for the admins to hear of it).
"""

from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from referral_site.referrals.outbox.models import OutboxEvent, new_event_id
from referral_site.referrals.storage.models import utcnow
from referral_site.referrals.storage.transactions import committed_for_good

#: Version of the envelope and payloads; a change that breaks a reader bumps it.
VERSION = 1

USER_SIGNED_UP = "user.signed_up"
REFERRAL_CREATED = "referral.created"
REFERRAL_FLAGGED = "referral.flagged"
REFERRAL_REVIEW_DECIDED = "referral.review_decided"
CONVERSION_RECORDED = "conversion.recorded"
CONVERSION_REFUNDED = "conversion.refunded"
REWARD_CREATED = "reward.created"
REWARD_STATUS_CHANGED = "reward.status_changed"
WEBHOOK_ENDPOINT_DISABLED = "webhook.endpoint_disabled"
PAYOUT_PAID = "payout.paid"
PAYOUT_FAILED = "payout.failed"

#: Every event type, in the order the docs list them.
TYPES = (
    USER_SIGNED_UP,
    REFERRAL_CREATED,
    REFERRAL_FLAGGED,
    REFERRAL_REVIEW_DECIDED,
    CONVERSION_RECORDED,
    CONVERSION_REFUNDED,
    REWARD_CREATED,
    REWARD_STATUS_CHANGED,
    PAYOUT_PAID,
    PAYOUT_FAILED,
    WEBHOOK_ENDPOINT_DISABLED,
)

#: Session.info key: this transaction wrote events (wake the dispatcher on commit).
_WROTE = "referrals_outbox_wrote"
#: app.extensions key of the callable that wakes the dispatch job (jobs/ sets it).
WAKE_UP = "referrals_outbox_wake_up"


def user_key(value: object) -> object:
    """A user id as payloads carry it: integers as they are, other keys as text."""
    return value if value is None or isinstance(value, int) else str(value)


def _plain(value: object) -> object:
    """Enum members (statuses, signals) as their values."""
    return getattr(value, "value", value)


def record(session: Session, type_: str, payload: dict) -> str:
    """Write one event in the session's transaction; returns its id."""
    event_id = new_event_id()
    session.add(
        OutboxEvent(
            id=event_id,
            type=type_,
            payload={key: _plain(value) for key, value in payload.items()},
            created_at=utcnow(),
        )
    )
    session.info[_WROTE] = True
    return event_id


def envelope(event_id: str, type_: str, payload: dict, created_at: datetime) -> dict:
    """What a delivery carries: the event in its versioned envelope."""
    return {
        "id": event_id,
        "type": type_,
        "version": VERSION,
        "created_at": created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": payload,
    }


def user_signed_up(session: Session, user_id, referral_id: int | None) -> str:
    """``user.signed_up``: a new user joined (referred or not)."""
    return record(
        session,
        USER_SIGNED_UP,
        {"user_id": user_key(user_id), "referral_id": referral_id},
    )


def referral_created(session: Session, referral) -> str:
    """``referral.created``: a signup was attributed to a referrer."""
    return record(
        session,
        REFERRAL_CREATED,
        {
            "referral_id": referral.id,
            "referrer_id": user_key(referral.referrer_id),
            "referred_id": user_key(referral.referred_id),
            "code": referral.code,
        },
    )


def referral_flagged(session: Session, referral, signals: list) -> str:
    """``referral.flagged``: new fraud signals put a referral up for review."""
    return record(
        session,
        REFERRAL_FLAGGED,
        {
            "referral_id": referral.id,
            "referrer_id": user_key(referral.referrer_id),
            "referred_id": user_key(referral.referred_id),
            "signals": [str(_plain(signal)) for signal in signals],
        },
    )


def referral_review_decided(session: Session, referral, decision, reason) -> str:
    """``referral.review_decided``: an admin cleared or confirmed a flag."""
    return record(
        session,
        REFERRAL_REVIEW_DECIDED,
        {
            "referral_id": referral.id,
            "referrer_id": user_key(referral.referrer_id),
            "decision": _plain(decision),
            "reason": reason,
        },
    )


def conversion_recorded(session: Session, conversion, referrer_id) -> str:
    """``conversion.recorded``: a new conversion was stored (not on a replay)."""
    return record(
        session,
        CONVERSION_RECORDED,
        {
            "conversion_id": conversion.id,
            "user_id": user_key(conversion.user_id),
            "referrer_id": user_key(referrer_id),
            "kind": conversion.kind,
            "amount_minor": conversion.amount_minor,
            "currency": conversion.currency,
            "external_id": conversion.external_id,
        },
    )


def conversion_refunded(session: Session, conversion, referrer_id) -> str:
    """``conversion.refunded``: a conversion was marked refunded (once)."""
    return record(
        session,
        CONVERSION_REFUNDED,
        {
            "conversion_id": conversion.id,
            "user_id": user_key(conversion.user_id),
            "referrer_id": user_key(referrer_id),
            "amount_minor": conversion.amount_minor,
            "currency": conversion.currency,
        },
    )


def reward_created(session: Session, reward) -> str:
    """``reward.created``: a rule granted a reward (or a refund clawed one back)."""
    return record(
        session,
        REWARD_CREATED,
        {
            "reward_id": reward.id,
            "user_id": user_key(reward.user_id),
            "rule": reward.rule,
            "amount_minor": reward.amount_minor,
            "currency": reward.currency,
            "status": reward.status,
            "referral_id": reward.referral_id,
        },
    )


def reward_status_changed(
    session: Session, reward_id: int, user_id, old_status, new_status, reason
) -> str:
    """``reward.status_changed``: a reward was approved, paid, rejected..."""
    return record(
        session,
        REWARD_STATUS_CHANGED,
        {
            "reward_id": reward_id,
            "user_id": user_key(user_id),
            "old_status": old_status,
            "new_status": new_status,
            "reason": reason,
        },
    )


def payout_paid(session: Session, line, reference: str, reward_ids: list) -> str:
    """``payout.paid``: a person's line of a payout batch was marked paid."""
    return record(
        session, PAYOUT_PAID, _payout(line, reward_ids) | {"reference": reference}
    )


def payout_failed(session: Session, line, reward_ids: list) -> str:
    """``payout.failed``: a line could not be paid; its rewards are due again."""
    return record(
        session,
        PAYOUT_FAILED,
        _payout(line, reward_ids) | {"reason": line.failure_reason},
    )


def _payout(line, reward_ids: list) -> dict:
    return {
        "payout_id": line.id,
        "batch_id": line.batch_id,
        "user_id": user_key(line.user_id),
        "amount_minor": line.amount_minor,
        "currency": line.currency,
        "method": line.method,
        "reward_ids": sorted(reward_ids),
    }


@sa_event.listens_for(Session, "after_commit")
def _wake_dispatcher(session: Session) -> None:
    """Once a transaction that wrote events commits, wake the dispatch job."""
    if not committed_for_good(session) or not session.info.pop(_WROTE, False):
        return
    wake_up = current_app.extensions.get(WAKE_UP) if current_app else None
    if wake_up is not None:
        wake_up()
