"""Who paid: tying a Stripe payment to one of the host's users.

In order: the Checkout Session's ``client_reference_id`` (the host passes its user
id), the user id under REFERRALS_STRIPE_METADATA_KEY in the metadata of the object,
its subscription or its customer, a customer id already tied to a user, and, only
when REFERRALS_STRIPE_MATCH_EMAIL is on, the customer's email address.
"""

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.billing.models import BillingCustomer
from referral_site.referrals.storage.bulk import insert_missing
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import utcnow
from referral_site.referrals.storage.transactions import write_transaction
from referral_site.referrals.users import integer_keys, user_id_error, user_sql


def payer(obj: dict, *, linked_user=None) -> tuple[object | None, str]:
    """The user id who paid for a Stripe object, and how it was found."""
    if linked_user is not None:
        return linked_user, "linked by an admin"
    key = current_app.config["REFERRALS_STRIPE_METADATA_KEY"]
    candidates = [
        (obj.get("client_reference_id"), "client_reference_id"),
        *((meta.get(key), f"metadata {key}") for meta in _metadata(obj)),
    ]
    for raw, how in candidates:
        if (user_id := known_user(raw)) is not None:
            return user_id, how
    customer = customer_id(obj)
    if customer and (user_id := customer_user(customer)) is not None:
        return user_id, "customer seen before"
    if current_app.config["REFERRALS_STRIPE_MATCH_EMAIL"]:
        if (user_id := _user_by_email(_email(obj))) is not None:
            return user_id, "customer email"
    return None, ""


def customer_id(obj: dict) -> str | None:
    """The customer id of a Stripe object (a string, or an expanded customer)."""
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    if obj.get("object") == "customer":
        customer = obj.get("id")
    return customer if isinstance(customer, str) and customer else None


def remember_customer(customer: str | None, user_id) -> None:
    """Tie a Stripe customer to a user, the first time only."""
    if not customer or len(customer) > 255 or customer_user(customer) is not None:
        return  # a read first: most payments are of customers known already
    with write_transaction() as session:
        tie_customer(session, customer, user_id)


def tie_customer(session, customer: str | None, user_id) -> None:
    """:func:`remember_customer` in the caller's transaction (one INSERT that
    keeps an earlier tie, a racing delivery's included)."""
    if customer and len(customer) <= 255:
        row = {"customer_id": customer, "user_id": user_id, "created_at": utcnow()}
        insert_missing(
            session.connection(), BillingCustomer.__table__, [row], ("customer_id",)
        )


def customer_user(customer: str):
    """The user a customer id was tied to before, if any."""
    return db.session.scalar(
        sa.select(BillingCustomer.user_id).where(
            BillingCustomer.customer_id == customer[:255]
        )
    )


def known_user(raw: object):
    """The id of an existing user written as ``raw`` (a string from Stripe)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not raw.strip():
        return None
    User = current_app.extensions["referrals"].user_model
    value: object = raw.strip()
    if integer_keys(User):
        if not value.isascii() or not value.isdigit():
            return None
        value = int(value)
    if user_id_error(value):
        return None
    user = user_sql(User)
    return db.session.scalar(sa.select(user.id).where(user.id == value))


def _metadata(obj: dict) -> list[dict]:
    """The metadata of the object and of what it carries of its subscription
    and customer (older and newer API versions place them differently)."""
    places = [
        obj.get("metadata"),
        (obj.get("subscription_details") or {}).get("metadata"),
        ((obj.get("parent") or {}).get("subscription_details") or {}).get("metadata"),
    ]
    for expandable in ("subscription", "customer"):
        if isinstance(obj.get(expandable), dict):
            places.append(obj[expandable].get("metadata"))
    return [place for place in places if isinstance(place, dict)]


def _email(obj: dict) -> str | None:
    details = obj.get("customer_details")
    email = details.get("email") if isinstance(details, dict) else None
    email = email or obj.get("customer_email") or obj.get("receipt_email")
    return email.strip().lower() if isinstance(email, str) and "@" in email else None


def _user_by_email(email: str | None):
    if not email or len(email) > 320 or not email.isprintable():
        return None
    User = current_app.extensions["referrals"].user_model
    user = user_sql(User)
    return db.session.scalar(sa.select(user.id).where(user.email == email))
