"""The outbox's tables: the events, and each consumer's progress through them."""

import secrets
import time
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from referral_site.referrals.storage.db import Base
from referral_site.referrals.storage.models import BigId, UTCDateTime, utcnow


def new_event_id() -> str:
    """A unique event id, the ``webhook-id`` of its deliveries: "evt_", the time
    in milliseconds (12 hex digits) and 12 random hex digits.

    Time first, so that new ids land at the end of the primary key's index, as
    the table's own rows do, rather than on a random page of it each time (on a
    large outbox that was most of what writing an event cost a signup).
    """
    return f"evt_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(6)}"


class OutboxEvent(Base):
    """One thing that happened, written in the transaction that made it happen."""

    __tablename__ = "referrals_outbox_events"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(40))
    payload: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When the event was handed to the consumers (progress rows written); None
    #: until the dispatch job gets to it.
    fanned_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class OutboxProgress(Base):
    """Where one consumer stands with one event: due, leased, done or given up.

    ``due_at`` is when the consumer should (next) run the event: a claim moves it
    a lease ahead, so a worker that dies mid-way leaves it due again later; done
    or given up, it is None. At most one row per (event, consumer).
    """

    __tablename__ = "referrals_outbox_progress"
    __table_args__ = (sa.UniqueConstraint("event_id", "consumer"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(
        sa.ForeignKey("referrals_outbox_events.id", ondelete="CASCADE")
    )
    consumer: Mapped[str] = mapped_column(sa.String(40))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
