"""Stripe events stored once by id, claimed by one worker, finished with an outcome."""

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from referral_site.referrals.billing.models import (
    BillingEvent,
    BillingPayment,
    Outcome,
)
from referral_site.referrals.billing.results import Result
from referral_site.referrals.billing.signature import WebhookRefused
from referral_site.referrals.storage.bulk import insert_missing
from referral_site.referrals.storage.models import utcnow
from referral_site.referrals.storage.transactions import write_transaction

#: A Stripe id: printable ASCII without spaces (evt_..., cs_..., ch_...).
STRIPE_ID = re.compile(r"^[\x21-\x7e]{1,255}$")
_TYPE = re.compile(r"^[a-z0-9_.]{1,100}$")
#: A worker that took an event this long ago and did not finish it has died:
#: another delivery (Stripe retries) may take it over.
CLAIM_TIMEOUT = timedelta(minutes=2)


@dataclass(frozen=True)
class Stored:
    """An event's row: ``created`` is False for a replay of a stored event."""

    id: int
    created: bool
    outcome: Outcome


def clean_id(value: object) -> str | None:
    """A Stripe id if the value looks like one, else None."""
    return value if isinstance(value, str) and STRIPE_ID.match(value) else None


def check_shape(event: dict, *, livemode: bool) -> dict:
    """The event's object, once the event has the fields every Stripe event has."""
    if not clean_id(event.get("id")) or not _TYPE.match(str(event.get("type", ""))):
        raise WebhookRefused("Not a Stripe event: it needs an id and a type.")
    if not isinstance(event.get("livemode"), bool):
        raise WebhookRefused("Not a Stripe event: livemode must be true or false.")
    created = event.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        raise WebhookRefused("Not a Stripe event: created must be a Unix time.")
    if not 0 <= created < 2**34:
        raise WebhookRefused("Not a Stripe event: created is out of range.")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise WebhookRefused("Not a Stripe event: data.object must be an object.")
    if event["livemode"] != livemode:
        mode = "live" if livemode else "test"
        raise WebhookRefused(
            f"This endpoint takes {mode}-mode events only "
            "(REFERRALS_STRIPE_LIVEMODE); this one is "
            f"{'live' if event['livemode'] else 'test'}-mode."
        )
    return data["object"]


def store(event: dict, payload: str) -> Stored:
    """Store the event unless its id is stored already (a racing copy included).

    A new row is claimed by this delivery (``created``); a stored one must be
    claimed with :func:`claim`.
    """
    row = _row(event, payload) | {
        "outcome": Outcome.RECEIVED,
        "reason": "",
        # The delivery that stores it handles it: claimed in the same insert.
        "claimed_at": utcnow(),
    }
    with write_transaction() as session:
        inserted = _insert(session, row)
        if inserted is not None:
            return Stored(inserted, True, Outcome.RECEIVED)
        # Stored before, or by a racing delivery (committed: its insert waited).
        return _existing(session, event["id"])


def _row(event: dict, payload: str) -> dict:
    obj = event["data"]["object"]
    return {
        "stripe_id": event["id"],
        "type": event["type"],
        "livemode": event["livemode"],
        "object_id": clean_id(obj.get("id")),
        "created_at": datetime.fromtimestamp(event["created"], UTC),
        "payload": payload,
    }


def _insert(session, row: dict) -> int | None:
    """The new row's id; None when the event's id is stored already."""
    inserted = insert_missing(
        session.connection(),
        BillingEvent.__table__,
        [row],
        keys=("stripe_id",),
        returning=("id",),
    ).first()
    return inserted.id if inserted is not None else None


def _existing(session, stripe_id: str) -> Stored | None:
    found = session.execute(
        sa.select(BillingEvent.id, BillingEvent.outcome).where(
            BillingEvent.stripe_id == stripe_id
        )
    ).first()
    return Stored(found.id, False, found.outcome) if found else None


# -- events handled before they are stored ---------------------------------------

#: The event being handled before it is stored, and its body (handling.handle_new):
#: its outcome is then written by inserting its row, in the handler's transaction.
_unstored: ContextVar[tuple[dict, str] | None] = ContextVar(
    "referrals_unstored_stripe_event", default=None
)


class AlreadyStored(Exception):
    """A racing delivery stored the event first: this one's work is rolled back."""


@contextmanager
def handling_unstored(event: dict, payload: str) -> Iterator[None]:
    """Handle ``event`` before it is stored: :func:`finish_in` inserts it."""
    token = _unstored.set((event, payload))
    try:
        yield
    finally:
        _unstored.reset(token)


def store_handled(event: dict, payload: str, result: Result) -> int | None:
    """Store an event handled before it was stored, with its result: its id, or
    None when a racing delivery stored it first."""
    with write_transaction() as session:
        try:
            return _insert_handled(session, event, payload, result)
        except AlreadyStored:
            return None


def _insert_handled(session, event: dict, payload: str, result: Result) -> int:
    event_id = _insert(session, _row(event, payload) | _outcome(result))
    if event_id is None:
        raise AlreadyStored(event["id"])
    _add_payment_keys(session, result)
    return event_id


def claim(event_id: int, *, again: bool = False) -> bool:
    """Take an event for handling; False when another worker has it or it is done.

    A conditional UPDATE decides: of racing deliveries exactly one gets it.
    ``again`` (an admin's replay or link, a payment that arrived) takes any
    event not being handled right now.
    """
    now = utcnow()
    free = sa.or_(
        BillingEvent.claimed_at.is_(None),
        BillingEvent.claimed_at < now - CLAIM_TIMEOUT,
    )
    open_outcomes = [Outcome.RECEIVED] + ([] if not again else list(Outcome))
    with write_transaction() as session:
        return bool(
            session.execute(
                sa.update(BillingEvent)
                .where(
                    BillingEvent.id == event_id,
                    BillingEvent.outcome.in_(open_outcomes),
                    free,
                )
                .values(claimed_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
        )


def finish(event_id: int, result: Result) -> None:
    """Record what handling came to and let the event go, in one transaction
    with the Stripe ids found to have paid for its conversion."""
    with write_transaction() as session:
        _write_outcome(session, BillingEvent.id == event_id, result)


def finish_in(session, event: dict, result: Result) -> None:
    """:func:`finish` in the caller's transaction, for the event with this body.

    An event handled before it was stored (:func:`handling_unstored`) is inserted
    with its outcome; AlreadyStored, raised when a racing delivery stored it
    first, rolls the caller's transaction back.
    """
    unstored = _unstored.get()
    if unstored is not None and unstored[0] is event:
        _insert_handled(session, event, unstored[1], result)
    else:
        _write_outcome(session, BillingEvent.stripe_id == event["id"], result)


def _write_outcome(session, which, result: Result) -> None:
    _add_payment_keys(session, result)
    session.execute(
        sa.update(BillingEvent)
        .where(which)
        .values(**_outcome(result))
        .execution_options(synchronize_session=False)
    )


def _outcome(result: Result) -> dict:
    """An event's columns once handled: its outcome, why, and what it was tied to."""
    tied = {
        "user_id": result.user_id,
        "conversion_id": result.conversion_id,
        "payment_key": result.payment_key,
        "customer_id": result.customer_id,
    }
    return {
        "outcome": result.outcome,
        "reason": result.reason[:500],
        "claimed_at": None,
        "handled_at": utcnow(),
        **{column: value for column, value in tied.items() if value is not None},
    }


def _add_payment_keys(session, result: Result) -> None:
    """Tie the Stripe ids that paid to the result's conversion; an id tied already
    (by a racing delivery, or to another conversion) stays."""
    if not result.payment_keys or result.conversion_id is None:
        return
    rows = [
        {"key": key, "conversion_id": result.conversion_id}
        for key in dict.fromkeys(result.payment_keys)
    ]
    insert_missing(session.connection(), BillingPayment.__table__, rows, keys=("key",))


def release(event_id: int) -> None:
    """Give an event back unhandled (a failure worth Stripe's retry)."""
    with write_transaction() as session:
        session.execute(
            sa.update(BillingEvent)
            .where(BillingEvent.id == event_id)
            .values(claimed_at=None)
            .execution_options(synchronize_session=False)
        )


def load(session, event_id: int) -> tuple[dict, BillingEvent]:
    """A stored event's body and row."""
    row = session.get(BillingEvent, event_id)
    return json.loads(row.payload), row
