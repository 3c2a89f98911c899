"""Stripe events for the tests: Stripe's own object shapes, signed as Stripe signs.

The objects start from Stripe's published fixtures (tests/fixtures/
stripe_objects.json: the checkout.session, invoice, charge, refund, dispute,
subscription, customer and event resources of openapi/fixtures3.json in
github.com/stripe/openapi, commit f6c2a48f) with the fields a test sets on top.
The signature is computed here, independently of the code under test:
``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the secret>``.
"""

import copy
import hashlib
import hmac
import itertools
import json
import time
from pathlib import Path

SECRET = "whsec_test_0123456789abcdef"
OLD_SECRET = "whsec_test_rotated_out_00000"
_FIXTURES = json.loads(
    (Path(__file__).parent / "fixtures" / "stripe_objects.json").read_text()
)
_ids = itertools.count(1)


def stripe_object(resource: str, **fields) -> dict:
    """A Stripe object of a resource type, Stripe's fixture with fields set."""
    obj = copy.deepcopy(_FIXTURES[resource])
    if "created" in obj:
        # Made just now, as the object of a live event is (the fixture's own time
        # is years ago, before any test user signed up).
        obj["created"] = int(time.time())
    obj.update(fields)
    return obj


def event(event_type: str, obj: dict, *, event_id=None, livemode=False, created=None):
    """An event wrapping obj, as Stripe's event resource has it."""
    wrapped = copy.deepcopy(_FIXTURES["event"])
    wrapped.update(
        id=event_id or f"evt_test_{next(_ids):06d}",
        type=event_type,
        livemode=livemode,
        created=created or int(time.time()),
        data={"object": obj},
    )
    return wrapped


def sign(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe sends with this body."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def post(client, body, *, secret=SECRET, timestamp=None, headers=None):
    """POST an event (a dict, or raw bytes) signed with secret, to the endpoint of
    client's app (under the plugin's prefix)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Stripe-Signature": sign(raw, secret, timestamp), **(headers or {})}
    prefix = client.application.config["REFERRALS_URL_PREFIX"]
    return client.post(
        f"{prefix}/api/billing/stripe",
        data=raw,
        headers=sent,
        content_type="application/json",
    )


def checkout(user_id=None, *, mode="payment", amount=5000, currency="usd", **extra):
    """A completed Checkout Session paid by user_id (client_reference_id)."""
    n = next(_ids)
    fields = dict(
        id=f"cs_test_{n}",
        mode=mode,
        payment_status="paid",
        status="complete",
        amount_total=amount,
        amount_subtotal=amount,
        currency=currency,
        client_reference_id=None if user_id is None else str(user_id),
        customer=f"cus_test_{n}",
        payment_intent=f"pi_test_{n}" if mode == "payment" else None,
        invoice=f"in_test_{n}" if mode == "subscription" else None,
        subscription=f"sub_test_{n}" if mode == "subscription" else None,
    )
    return stripe_object("checkout.session", **(fields | extra))


def invoice(
    customer, subscription, *, reason="subscription_cycle", amount=2000, **extra
):
    """A paid invoice of a subscription (the current API's shape: parent)."""
    n = next(_ids)
    fields = dict(
        id=f"in_test_{n}",
        status="paid",
        billing_reason=reason,
        amount_paid=amount,
        amount_due=amount,
        currency="usd",
        customer=customer,
        created=int(time.time()),
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": subscription},
        },
        status_transitions={"paid_at": int(time.time())},
    )
    return stripe_object("invoice", **(fields | extra))


def charge(payment_intent, *, amount=5000, refunded=0, refunds=(), **extra):
    """A charge of a payment intent with amount_refunded and its refunds."""
    fields = dict(
        id=f"ch_for_{payment_intent}",
        amount=amount,
        amount_captured=amount,
        amount_refunded=refunded,
        refunded=refunded >= amount,
        currency="usd",
        payment_intent=payment_intent,
        refunds={"object": "list", "data": list(refunds), "has_more": False},
    )
    return stripe_object("charge", **(fields | extra))


def refund(payment_intent, amount, *, status="succeeded", refund_id=None):
    """A refund of (part of) a payment intent's charge."""
    return stripe_object(
        "refund",
        id=refund_id or f"re_test_{next(_ids)}",
        amount=amount,
        charge=f"ch_for_{payment_intent}",
        payment_intent=payment_intent,
        status=status,
        currency="usd",
    )


def dispute(payment_intent, *, status="needs_response", amount=5000, dispute_id=None):
    """A dispute of a payment intent's charge."""
    return stripe_object(
        "dispute",
        id=dispute_id or f"dp_test_{next(_ids)}",
        amount=amount,
        charge=f"ch_for_{payment_intent}",
        payment_intent=payment_intent,
        status=status,
        reason="fraudulent",
    )
