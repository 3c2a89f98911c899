"""Handling a stored Stripe event: the handler for its type, then its outcome.

Handlers are idempotent (conversions by external id, refunds as cumulative totals,
holds as a state), so handling an event again (an admin's replay, a waiting refund
whose payment arrived) changes nothing that was done.
"""

import logging

import sqlalchemy as sa
from sqlalchemy.exc import DataError

from referral_site.referrals.billing import links, payers, payments, reversals, store
from referral_site.referrals.billing.models import BillingEvent, Outcome
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


def handle(event_id: int) -> Result:
    """Handle a claimed event and record its outcome; then what it unblocked.

    A database that does not answer gives the event back (Stripe retries it);
    anything else wrong with it is recorded as failed, with the reason.
    """
    event, row = store.load(db.session, event_id)
    # Only an admin's link sets the user of an unattributed event.
    linked_user = row.user_id if row.outcome == Outcome.UNATTRIBUTED else None
    db.session.rollback()  # nothing held open while the handler writes
    handler = HANDLERS.get(event["type"])
    try:
        if handler is None:
            result = Result(Outcome.IGNORED, "event type not used")
        else:
            result = handler(event["data"]["object"], event, linked_user)
    except DATABASE_OUTAGES:
        db.session.rollback()
        store.release(event_id)
        raise
    except (Malformed, ConversionError) as error:
        db.session.rollback()
        result = Result(Outcome.FAILED, text(error, 300))
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
        log.info("Stripe event %s is malformed: %r", row.stripe_id, error)
        result = Result(Outcome.FAILED, "malformed object: " + text(error, 200))
    store.finish(
        event_id,
        result.outcome,
        result.reason,
        user_id=result.user_id,
        conversion_id=result.conversion_id,
        payment_key=result.payment_key,
        customer_id=result.customer_id,
        payment_keys=result.payment_keys,
    )
    if result.outcome == Outcome.WAITING and links.conversion_for([result.payment_key]):
        # The payment landed while this was handled: its look for waiting events
        # may have run before this one was recorded as waiting.
        return handle_again(event_id) or result
    if result.outcome == Outcome.UNATTRIBUTED and result.customer_id:
        if payers.customer_user(result.customer_id) is not None:  # learnt meanwhile
            return handle_again(event_id) or result
    if result.outcome == Outcome.APPLIED and result.conversion_id is not None:
        _handle_waiting(result.conversion_id)
    if result.outcome == Outcome.APPLIED and result.customer_id is not None:
        _handle_unattributed(result.customer_id)
    return result


def handle_again(event_id: int) -> Result | None:
    """Handle a stored event again, whatever its outcome (None: being handled)."""
    if not store.claim(event_id, again=True):
        return None
    return handle(event_id)


def _handle_waiting(conversion_id: int) -> None:
    """Refunds and disputes that arrived before this payment: apply them now."""
    from referral_site.referrals.billing.models import BillingPayment

    keys = sa.select(BillingPayment.key).where(
        BillingPayment.conversion_id == conversion_id
    )
    _handle_all(
        sa.select(BillingEvent.id)
        .where(BillingEvent.outcome == Outcome.WAITING)
        .where(BillingEvent.payment_key.in_(keys))
        .order_by(BillingEvent.created_at, BillingEvent.id)
    )


def _handle_unattributed(customer_id: str) -> None:
    """Earlier payments of a customer now known: attribute them."""
    _handle_all(
        sa.select(BillingEvent.id)
        .where(BillingEvent.outcome == Outcome.UNATTRIBUTED)
        .where(BillingEvent.customer_id == customer_id)
        .order_by(BillingEvent.created_at, BillingEvent.id)
    )


def _handle_all(query) -> None:
    for event_id in db.session.scalars(query).all():
        handle_again(event_id)
