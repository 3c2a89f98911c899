"""Webhook endpoints, one delivery per (event, endpoint), and every attempt made."""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from referral_site.referrals.storage.db import Base
from referral_site.referrals.storage.models import BigId, UTCDateTime, _enum, utcnow


class WebhookEndpoint(Base):
    """A URL that receives the events of some types, signed with its secret.

    During a rotation the previous secret also signs each delivery until
    ``previous_secret_expires_at``, so a receiver can switch without losing any.
    """

    __tablename__ = "referrals_webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(2000))
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    #: The event types sent; an empty list sends every type.
    event_types: Mapped[list] = mapped_column(sa.JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    secret: Mapped[str] = mapped_column(sa.String(100))
    previous_secret: Mapped[str | None] = mapped_column(sa.String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Start of the current run of failures (None once a delivery succeeds).
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Why and when it was turned off by the system (None when an admin did).
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(300))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class DeliveryStatus(enum.StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"  # due now or after a backoff
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"  # every attempt of the schedule failed


class WebhookDelivery(Base):
    """One event for one endpoint: at most one row, whatever retries or crashes do."""

    __tablename__ = "referrals_webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("endpoint_id", "event_id"),
        sa.Index(
            "ix_referrals_webhook_deliveries_endpoint_created",
            "endpoint_id",
            "created_at",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        sa.ForeignKey("referrals_webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(
        sa.ForeignKey("referrals_outbox_events.id", ondelete="CASCADE")
    )
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    #: Attempts since it was created (or replayed): where it is in the schedule.
    attempts: Mapped[int] = mapped_column(default=0)
    #: When the next attempt is due (a claim moves it a lease ahead); None once
    #: delivered or failed.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookAttempt(Base):
    """One HTTP request of a delivery, as it went: for the admins to see and debug."""

    __tablename__ = "referrals_webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        BigId,
        sa.ForeignKey("referrals_webhook_deliveries.id", ondelete="CASCADE"),
        index=True,
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The HTTP status, or None when no answer came (refused, timeout...).
    status_code: Mapped[int | None]
    latency_ms: Mapped[int]
    #: The start of the response body, or why no request was made or answered.
    response_start: Mapped[str] = mapped_column(sa.String(500), default="")
    succeeded: Mapped[bool] = mapped_column(default=False)
