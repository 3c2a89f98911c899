"""Stripe's events as received, and what ties Stripe's objects to users and conversions.

Each event is stored once by its Stripe id (unique), so a replay or a racing
duplicate delivery finds the row and does nothing more.
"""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from referral_site.referrals.storage.db import Base, user_key
from referral_site.referrals.storage.models import UTCDateTime, _enum, utcnow


class Outcome(enum.StrEnum):
    """What handling an event came to."""

    RECEIVED = "received"  # stored; handling has not finished (or crashed)
    APPLIED = "applied"  # turned into a conversion, refund, dispute change...
    IGNORED = "ignored"  # a type or a case that changes nothing here
    UNATTRIBUTED = "unattributed"  # nobody known paid: an admin can link a user
    WAITING = "waiting"  # a refund or dispute whose payment has not arrived yet
    FAILED = "failed"  # malformed or refused; the reason says why


class BillingEvent(Base):
    """One Stripe event, stored once by its id, with what handling it did."""

    __tablename__ = "billing_events"
    __table_args__ = (
        sa.Index("ix_billing_events_outcome_received", "outcome", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    type: Mapped[str] = mapped_column(sa.String(100), index=True)
    livemode: Mapped[bool] = mapped_column(sa.Boolean)
    #: The id of the event's object (cs_..., in_..., ch_..., re_..., dp_...).
    object_id: Mapped[str | None] = mapped_column(sa.String(255))
    #: For a refund or dispute: the payment (pi_... or ch_...) it waits for.
    payment_key: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    customer_id: Mapped[str | None] = mapped_column(sa.String(255))
    #: When Stripe created the event.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The verified body, kept for an admin's replay.
    payload: Mapped[str] = mapped_column(sa.Text)
    outcome: Mapped[Outcome] = mapped_column(
        _enum(Outcome, "outcome"), default=Outcome.RECEIVED
    )
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    #: Who paid, once known (set by an admin for an unattributed event).
    user_id: Mapped[int | None] = user_key("SET NULL")
    conversion_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("conversions.id"), index=True
    )
    #: Set by the worker handling it; another may take over once it is old.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BillingCustomer(Base):
    """A Stripe customer known to be one user (learnt from an attributed payment)."""

    __tablename__ = "billing_customers"

    customer_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    user_id: Mapped[int] = user_key("CASCADE", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BillingSubscription(Base):
    """A Stripe subscription: whose it is, and when it ended (no renewals after)."""

    __tablename__ = "billing_subscriptions"

    subscription_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    user_id: Mapped[int | None] = user_key("CASCADE", index=True)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BillingPayment(Base):
    """A Stripe id (pi_, ch_, in_, cs_) that paid for a conversion."""

    __tablename__ = "billing_payments"

    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    conversion_id: Mapped[int] = mapped_column(
        sa.ForeignKey("conversions.id"), index=True
    )


class BillingRefund(Base):
    """A Stripe refund of a conversion's payment, with its latest status."""

    __tablename__ = "billing_refunds"

    refund_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    conversion_id: Mapped[int] = mapped_column(
        sa.ForeignKey("conversions.id"), index=True
    )
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(32))


class BillingDispute(Base):
    """A Stripe dispute of a conversion's payment; closed once won or lost."""

    __tablename__ = "billing_disputes"

    dispute_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    conversion_id: Mapped[int] = mapped_column(
        sa.ForeignKey("conversions.id"), index=True
    )
    status: Mapped[str] = mapped_column(sa.String(32))
    reason: Mapped[str] = mapped_column(sa.String(100), default="")
    closed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
