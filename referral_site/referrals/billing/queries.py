"""What the admin's billing page reads: arrivals, outcomes, events needing a hand."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.billing.models import BillingEvent, Outcome
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import Conversion, Referral
from referral_site.referrals.users import user_sql

#: Outcomes an admin should look at.
ATTENTION = (Outcome.UNATTRIBUTED, Outcome.FAILED, Outcome.WAITING)
#: Prefix of the external ids of conversions taken from Stripe.
STRIPE_PREFIX = "stripe:"
#: What a Stripe id's prefix says it is.
_KINDS = {
    "pi": "payment",
    "ch": "charge",
    "in": "invoice",
    "cs": "Checkout Session",
    "py": "payment",
}


@dataclass(frozen=True)
class Overview:
    """The billing page's figures."""

    last: sa.Row | None
    counts: list  # (type, {outcome: count}, total)
    outcomes: list[Outcome]
    attention: list
    recent: list


def overview(limit: int = 50) -> Overview:
    """The last event, counts by type and outcome, and the events to look at."""
    columns = (
        BillingEvent.id,
        BillingEvent.stripe_id,
        BillingEvent.type,
        BillingEvent.object_id,
        BillingEvent.outcome,
        BillingEvent.reason,
        BillingEvent.received_at,
        BillingEvent.customer_id,
        BillingEvent.livemode,
    )
    latest = sa.select(*columns).order_by(
        BillingEvent.received_at.desc(), BillingEvent.id.desc()
    )
    recent = db.session.execute(latest.limit(20)).all()
    attention = db.session.execute(
        latest.where(BillingEvent.outcome.in_(ATTENTION)).limit(limit)
    ).all()
    return Overview(
        last=recent[0] if recent else None,
        counts=_counts(),
        outcomes=list(Outcome),
        attention=attention,
        recent=recent,
    )


def _counts() -> list:
    rows = db.session.execute(
        sa.select(BillingEvent.type, BillingEvent.outcome, sa.func.count())
        .group_by(BillingEvent.type, BillingEvent.outcome)
        .order_by(BillingEvent.type)
    ).all()
    by_type: dict[str, dict] = {}
    for event_type, outcome, count in rows:
        by_type.setdefault(event_type, {})[outcome] = count
    return [(t, counts, sum(counts.values())) for t, counts in by_type.items()]


def stripe_source(external_id: str | None) -> str | None:
    """ "Stripe invoice in_123" for a conversion taken from Stripe, else None."""
    if not external_id or not external_id.startswith(STRIPE_PREFIX):
        return None
    object_id = external_id[len(STRIPE_PREFIX) :]
    kind = _KINDS.get(object_id.partition("_")[0], "object")
    return f"Stripe {kind} {object_id}"


@dataclass(frozen=True)
class SourcedConversion:
    """A conversion of someone a referrer referred, with where it came from."""

    id: int
    referred_name: str
    kind: str
    amount_minor: int
    currency: str
    refunded_minor: int
    held_reason: str | None
    occurred_at: datetime
    source: str


def referrer_conversions(referrer_id, limit: int = 20) -> list[SourcedConversion]:
    """The latest conversions of a referrer's referred users, with their source."""
    User = current_app.extensions["referrals"].user_model
    user = user_sql(User)
    rows = db.session.execute(
        sa.select(
            Conversion.id,
            user.name,
            Conversion.kind,
            Conversion.amount_minor,
            Conversion.currency,
            Conversion.refunded_minor,
            Conversion.held_reason,
            Conversion.occurred_at,
            Conversion.external_id,
        )
        .join(Referral, Referral.id == Conversion.referral_id)
        .join(User, user.id == Conversion.user_id)
        .where(Referral.referrer_id == referrer_id)
        .order_by(Conversion.occurred_at.desc(), Conversion.id.desc())
        .limit(limit)
    ).all()
    return [
        SourcedConversion(
            *row[:-1], source=stripe_source(row.external_id) or row.external_id
        )
        for row in rows
    ]
