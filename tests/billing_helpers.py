"""Shared parts of the Stripe webhook tests: the app, the rules, reading results."""

import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.billing.models import BillingEvent
from referral_site.referrals.storage.models import Conversion, Reward
from tests.stripe_events import OLD_SECRET, SECRET

#: A first-purchase bonus (fixed), a 10% share of every payment and renewals for
#: 3 months at 20% capped at 1500 per referred customer.
RULES = [
    {
        "name": "bonus",
        "trigger": "first_conversion",
        "amount": 1000,
        "hold_days": 0,
        "conversion_kinds": ["purchase", "subscription"],
    },
    {
        "name": "share",
        "trigger": "every_conversion",
        "percent": 10,
        "hold_days": 0,
        "conversion_kinds": ["purchase", "subscription"],
    },
    {
        "name": "renewals",
        "trigger": "every_conversion",
        "percent": 20,
        "months": 3,
        "customer_cap": 1500,
        "hold_days": 0,
        "conversion_kinds": ["renewal"],
    },
]


def billing_settings(**overrides) -> dict:
    return {
        "REFERRALS_STRIPE_WEBHOOK_SECRET": f"{SECRET}, {OLD_SECRET}",
        "REFERRALS_REWARD_RULES": RULES,
    } | overrides


def events(app) -> list[tuple]:
    """(stripe id, type, outcome, reason) of stored events, in order."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(
                BillingEvent.stripe_id,
                BillingEvent.type,
                BillingEvent.outcome,
                BillingEvent.reason,
            ).order_by(BillingEvent.id)
        )
        return [tuple(row) for row in rows]


def conversions(app) -> list[tuple]:
    """(external id, kind, amount, currency, refunded, held) of conversions."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(
                Conversion.external_id,
                Conversion.kind,
                Conversion.amount_minor,
                Conversion.currency,
                Conversion.refunded_minor,
                Conversion.held_reason,
            ).order_by(Conversion.id)
        )
        return [tuple(row) for row in rows]


def rewards(app, user_id=None) -> list[tuple]:
    """(rule, amount, currency, status) of rewards, in id order."""
    with app.app_context():
        query = sa.select(
            Reward.rule, Reward.amount_minor, Reward.currency, Reward.status
        ).order_by(Reward.id)
        if user_id is not None:
            query = query.where(Reward.user_id == user_id)
        return [tuple(row) for row in db.session.execute(query)]
