"""Handling a stored Stripe event: the handler for its type, then its outcome.

Handlers are idempotent (conversions by external id, refunds as cumulative totals,
holds as a state), so handling an event again (an admin's replay, a waiting refund
whose payment arrived) changes nothing that was done.
"""

import logging

import sqlalchemy as sa
from sqlalchemy.exc import DataError

from referral_site.referrals.billing import links, payers, payments, reversals, store
from referral_site.referrals.billing.models import (
    BillingEvent,
    BillingPayment,
    Outcome,
)
from referral_site.referrals.billing.results import Malformed, Result, text
from referral_site.referrals.rewards.conversions import ConversionError
from referral_site.referrals.storage.db import DATABASE_OUTAGES, db

log = logging.getLogger(__name__)

#: The event types to enable on the Stripe endpoint, and what handles each.
HANDLERS = {
    "checkout.session.completed": payments.checkout_completed,
    "checkout.session.async_payment_succeeded": payments.checkout_completed,
    "invoice.paid": payments.invoice_paid,
    "invoice_payment.paid": payments.invoice_payment_paid,
    "customer.created": payments.customer_seen,
    "customer.updated": payments.customer_seen,
    "charge.refunded": reversals.charge_refunded,
    "refund.created": reversals.refund_changed,
    "refund.updated": reversals.refund_changed,
    "charge.dispute.created": reversals.dispute_created,
    "charge.dispute.closed": reversals.dispute_closed,
    "customer.subscription.deleted": reversals.subscription_deleted,
}


#: Payments, handled before they are stored: the event is stored with its outcome
#: in its conversion's transaction, one write transaction a delivery, as for a
#: conversion posted to the API.
IN_ONE_TRANSACTION = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "invoice.paid",
    }
)


def handle(event_id: int, new_event: dict | None = None) -> Result:
    """Handle a claimed event and record its outcome; then what it unblocked.

    ``new_event`` is the body of an event stored by this very delivery, which
    need not be read back. A database that does not answer gives the event back
    (Stripe retries it); anything else wrong with it is recorded as failed, with
    the reason.
    """
    if new_event is not None:
        event, linked_user = new_event, None
    else:
        event, row = store.load(db.session, event_id)
        # Only an admin's link sets the user of an unattributed event.
        linked_user = row.user_id if row.outcome == Outcome.UNATTRIBUTED else None
        db.session.rollback()  # nothing held open while the handler writes
    try:
        result = _run(event, linked_user)
    except DATABASE_OUTAGES:
        db.session.rollback()
        store.release(event_id)
        raise
    if not result.finished:
        store.finish(event_id, result)
    return _after(event_id, result)


def handle_new(event: dict, payload: str) -> Result | None:
    """Handle an event of IN_ONE_TRANSACTION that is not stored yet, storing it
    with its outcome; then what it unblocked.

    None when a racing delivery stored it first: this one's work was rolled
    back with the event's insert (its conversion, recorded by the other, is
    found by its external id). A database that does not answer leaves nothing
    stored, for Stripe's retry.
    """
    with store.handling_unstored(event, payload):
        try:
            result = _run(event, None)
        except store.AlreadyStored:
            db.session.rollback()
            return None
        except DATABASE_OUTAGES:
            db.session.rollback()
            raise
    event_id = None
    if not result.finished:  # no conversion (ignored, unattributed, failed...)
        event_id = store.store_handled(event, payload, result)
        if event_id is None:
            return None
    return _after(event_id, result)


def _run(event: dict, linked_user) -> Result:
    """The handler's result; an event it cannot use is a failed result, with why.

    Database outages (and AlreadyStored) are raised, after the rollback.
    """
    handler = HANDLERS.get(event["type"])
    try:
        if handler is None:
            return Result(Outcome.IGNORED, "event type not used")
        return handler(event["data"]["object"], event, linked_user)
    except (Malformed, ConversionError) as error:
        db.session.rollback()
        return Result(Outcome.FAILED, text(error, 300))
    except (
        AttributeError,
        KeyError,
        TypeError,
        ValueError,
        ArithmeticError,
        DataError,
    ) as error:
        # A field of a shape or size its type does not allow (DataError: one the
        # database refused): the event is kept as failed, with why.
        db.session.rollback()
        log.info("Stripe event %s is malformed: %r", event.get("id"), error)
        return Result(Outcome.FAILED, "malformed object: " + text(error, 200))


def _after(event_id: int | None, result: Result) -> Result:
    """Handle what the outcome unblocked, or this event again if it was
    overtaken (``event_id`` is set for every outcome but a finished one)."""
    if result.outcome == Outcome.WAITING and links.conversion_for([result.payment_key]):
        # The payment landed while this was handled: its look for waiting events
        # may have run before this one was recorded as waiting.
        return handle_again(event_id) or result
    if result.outcome == Outcome.UNATTRIBUTED and result.customer_id:
        if payers.customer_user(result.customer_id) is not None:  # learnt meanwhile
            return handle_again(event_id) or result
    if result.outcome == Outcome.APPLIED:
        _handle_unblocked(result.conversion_id, result.customer_id)
    return result


def handle_again(event_id: int) -> Result | None:
    """Handle a stored event again, whatever its outcome (None: being handled)."""
    if not store.claim(event_id, again=True):
        return None
    return handle(event_id)


def _handle_unblocked(conversion_id: int | None, customer_id: str | None) -> None:
    """What an applied payment unblocks, read in one query: refunds and disputes
    of it that arrived before it (waiting), and its customer's earlier payments,
    now attributable (unattributed). Each half reads its own index."""
    unblocked = []
    if conversion_id is not None:
        keys = sa.select(BillingPayment.key).where(
            BillingPayment.conversion_id == conversion_id
        )
        unblocked.append(
            _events_by_age().where(
                BillingEvent.outcome == Outcome.WAITING,
                BillingEvent.payment_key.in_(keys),
            )
        )
    if customer_id is not None:
        unblocked.append(
            _events_by_age().where(
                BillingEvent.outcome == Outcome.UNATTRIBUTED,
                BillingEvent.customer_id == customer_id,
            )
        )
    if not unblocked:
        return
    query = sa.union_all(*unblocked).order_by("created_at", "id")
    for event_id in db.session.scalars(query).all():
        handle_again(event_id)


def _events_by_age():
    return sa.select(BillingEvent.id, BillingEvent.created_at)
