"""The Stripe ids that paid for each conversion, and the subscriptions' state."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from referral_site.referrals.billing.models import BillingPayment, BillingSubscription
from referral_site.referrals.billing.store import clean_id
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import Conversion
from referral_site.referrals.storage.transactions import write_transaction


def ids(*values: object) -> list[str]:
    """The values that are Stripe ids (an expanded object gives its id)."""
    found = []
    for value in values:
        if isinstance(value, dict):
            value = value.get("id")
        if (cleaned := clean_id(value)) and cleaned not in found:
            found.append(cleaned)
    return found


def remember_payment(conversion_id: int, keys: list[str]) -> None:
    """Tie each Stripe id (payment intent, charge, invoice...) to the conversion."""
    with write_transaction() as session:
        for key in keys:
            if session.get(BillingPayment, key) is not None:
                continue
            try:
                with session.begin_nested():
                    session.add(BillingPayment(key=key, conversion_id=conversion_id))
            except IntegrityError:
                pass  # tied by a racing delivery


def conversion_for(keys: list[str]) -> Conversion | None:
    """The conversion any of these Stripe ids paid for, if it has arrived."""
    if not keys:
        return None
    return db.session.scalar(
        sa.select(Conversion)
        .join(BillingPayment, BillingPayment.conversion_id == Conversion.id)
        .where(BillingPayment.key.in_(keys))
        .limit(1)
    )


def subscription(subscription_id: str) -> BillingSubscription | None:
    """What is known of a subscription."""
    return db.session.get(BillingSubscription, subscription_id)


def save_subscription(
    subscription_id: str, *, user_id=None, canceled_at: datetime | None = None
) -> None:
    """Record a subscription's owner or its end, keeping what was known."""
    with write_transaction() as session:
        save_subscription_in(
            session, subscription_id, user_id=user_id, canceled_at=canceled_at
        )


def save_subscription_in(
    session, subscription_id: str, *, user_id=None, canceled_at=None
) -> None:
    """:func:`save_subscription` in the caller's transaction."""
    row = session.get(BillingSubscription, subscription_id, with_for_update=True)
    if row is None:
        try:
            with session.begin_nested():
                row = BillingSubscription(subscription_id=subscription_id)
                session.add(row)
        except IntegrityError:
            row = session.get(
                BillingSubscription, subscription_id, with_for_update=True
            )
    if user_id is not None and row.user_id is None:
        row.user_id = user_id
    if canceled_at is not None and row.canceled_at is None:
        row.canceled_at = canceled_at
