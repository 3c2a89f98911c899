"""Payments from Stripe as conversions: Checkout Sessions, paid invoices, customers.

A subscription started through Checkout and its first invoice are one conversion:
both are recorded under the invoice's id, so whichever arrives second is a replay.
"""

from datetime import UTC, datetime

from flask import current_app

from referral_site.referrals.billing import links, payers, store
from referral_site.referrals.billing.models import Outcome
from referral_site.referrals.billing.results import Malformed, Result, amount_of, text
from referral_site.referrals.rewards import conversions
from referral_site.referrals.rewards.currencies import is_currency

#: Conversion kinds of an invoice by its billing_reason (others: "invoice").
INVOICE_KINDS = {
    "subscription_create": "subscription",
    "subscription_cycle": "renewal",
    "subscription_update": "subscription_update",
}


def checkout_completed(obj: dict, event: dict, linked_user=None) -> Result:
    """A completed Checkout Session: a purchase, or a subscription's start."""
    if obj.get("object") != "checkout.session":
        raise Malformed("data.object is not a checkout.session.")
    if obj.get("payment_status") == "unpaid":
        return Result(Outcome.IGNORED, "not paid yet: async_payment_succeeded follows")
    mode = obj.get("mode")
    if mode == "payment":
        keys = links.ids(obj.get("payment_intent"), obj.get("id"))
        kind = "purchase"
    elif mode == "subscription":
        keys = links.ids(obj.get("invoice"), obj.get("id"))
        kind = "subscription"
    else:
        return Result(Outcome.IGNORED, f"mode {text(mode)} pays nothing")
    subscription = links.ids(obj.get("subscription"))
    subscription_id = subscription[0] if subscription else None
    return _record(obj, event, keys, kind, "amount_total", linked_user, subscription_id)


def invoice_paid(obj: dict, event: dict, linked_user=None) -> Result:
    """A paid invoice: a subscription's first payment, a renewal, or a one-off."""
    if obj.get("object") != "invoice":
        raise Malformed("data.object is not an invoice.")
    reason = obj.get("billing_reason")
    kind = INVOICE_KINDS.get(reason, "invoice")
    subscription_id = _subscription_of(obj)
    known = links.subscription(subscription_id) if subscription_id else None
    if kind == "renewal" and known is not None and known.canceled_at is not None:
        if _moment(obj.get("created"), event) > known.canceled_at:
            return Result(Outcome.IGNORED, "the subscription has ended")
    if linked_user is None and known is not None and known.user_id is not None:
        if payers.payer(obj)[0] is None:
            linked_user = known.user_id  # its start told whose it is
    keys = links.ids(
        obj.get("id"), obj.get("payment_intent"), obj.get("charge"), *_payments(obj)
    )
    return _record(obj, event, keys, kind, "amount_paid", linked_user, subscription_id)


def customer_seen(obj: dict, event: dict, linked_user=None) -> Result:
    """A customer whose metadata names a user: later payments are theirs."""
    if obj.get("object") != "customer":
        raise Malformed("data.object is not a customer.")
    user_id, how = payers.payer(obj, linked_user=linked_user)
    customer = payers.customer_id(obj)
    if user_id is None or customer is None:
        return Result(Outcome.IGNORED, "no user named in the customer's metadata")
    payers.remember_customer(customer, user_id)
    return Result(Outcome.APPLIED, f"customer tied by {how}", user_id=user_id)


def _record(
    obj, event, keys, kind, amount_field, linked_user, subscription_id=None
) -> Result:
    """The payment's conversion; with it, in its transaction, the customer's and
    the subscription's owner and the event's outcome, so that an event recorded
    as applied has left nothing of its own undone."""
    if not keys:
        raise Malformed("the payment has no id.")
    amount = amount_of(obj, amount_field)
    currency = str(obj.get("currency") or "").upper()
    if not is_currency(currency):
        raise Malformed("currency must be an ISO 4217 code.")
    customer = payers.customer_id(obj)
    user_id, how = payers.payer(obj, linked_user=linked_user)
    if user_id is None:
        return Result(
            Outcome.UNATTRIBUTED,
            "nobody known paid: no client_reference_id, metadata "
            f"{current_app.config['REFERRALS_STRIPE_METADATA_KEY']} or known customer",
            customer_id=customer,
        )
    keys = tuple(keys)
    applied: list[Result] = []

    def finish_with_it(session, recorded) -> None:
        # The customer's tie, the subscription's owner and the event's outcome
        # commit with the conversion: one transaction, not four.
        payers.tie_customer(session, customer, user_id)
        if subscription_id:
            links.save_subscription_in(session, subscription_id, user_id=user_id)
        what = "recorded" if recorded.created else "recorded before"
        result = Result(
            Outcome.APPLIED,
            f"{kind} {what}; payer by {how}",
            user_id=user_id,
            conversion_id=recorded.id,
            customer_id=customer,
            payment_keys=keys,
            finished=True,
        )
        store.finish_in(session, event, result)
        applied[:] = [result]

    try:
        conversions.record_conversion(
            user_id,
            kind=kind,
            amount=amount,
            currency=currency,
            external_id=f"stripe:{keys[0]}"[:128],
            occurred_at=_moment(_paid_at(obj), event),
            before_commit=finish_with_it,
        )
    except conversions.ConversionConflict:
        # Counted already from the other event of the same payment.
        payers.remember_customer(customer, user_id)
        if subscription_id:
            links.save_subscription(subscription_id, user_id=user_id)
        stored = links.conversion_for(keys)
        return Result(
            Outcome.IGNORED,
            "counted already from another event of this payment",
            user_id=user_id,
            conversion_id=stored.id if stored else None,
            customer_id=customer,
        )
    return applied[0]


def _subscription_of(obj: dict) -> str | None:
    parent = obj.get("parent") or {}
    details = parent.get("subscription_details") or {} if parent else {}
    found = links.ids(obj.get("subscription"), details.get("subscription"))
    return found[0] if found else None


def _payments(obj: dict) -> list:
    """The payment intents and charges of an invoice's payments (newer API)."""
    payments = (obj.get("payments") or {}).get("data") or []
    found = []
    for item in payments if isinstance(payments, list) else []:
        payment = (item or {}).get("payment") or {}
        found += [payment.get("payment_intent"), payment.get("charge")]
    return found


def _paid_at(obj: dict):
    transitions = obj.get("status_transitions")
    if isinstance(transitions, dict) and transitions.get("paid_at"):
        return transitions["paid_at"]
    return obj.get("created")


def _moment(unix: object, event: dict) -> datetime:
    """A Stripe Unix time (the event's own time when absent or absurd)."""
    if not isinstance(unix, int) or isinstance(unix, bool) or not 0 < unix < 2**34:
        unix = event["created"]
    return datetime.fromtimestamp(unix, UTC)


def invoice_payment_paid(obj: dict, event: dict, linked_user=None) -> Result:
    """Which payment intent or charge paid an invoice (API versions from 2025-03,
    whose invoices no longer carry it): refunds and disputes of it find the
    invoice's conversion."""
    if obj.get("object") != "invoice_payment":
        raise Malformed("data.object is not an invoice_payment.")
    payment = obj.get("payment") or {}
    keys = links.ids(payment.get("payment_intent"), payment.get("charge"))
    invoice = links.ids(obj.get("invoice"))
    if not invoice or not keys:
        raise Malformed("the invoice payment names no invoice or payment.")
    conversion = links.conversion_for(invoice)
    if conversion is None:
        return Result(
            Outcome.WAITING, "its invoice has not arrived yet", payment_key=invoice[0]
        )
    return Result(
        Outcome.APPLIED,
        "payment tied to its invoice",
        conversion_id=conversion.id,
        payment_keys=tuple(keys),
    )
