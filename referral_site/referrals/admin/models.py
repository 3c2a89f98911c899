"""The console's own tables: admins' notes on people, and the email blocklist."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from referral_site.referrals.storage.db import Base, user_key
from referral_site.referrals.storage.models import UTCDateTime, utcnow

#: Longest note an admin can keep on a person.
NOTE_MAX_LENGTH = 2000


class ReferrerNote(Base):
    """A note an admin wrote about a person in the program; append-only."""

    __tablename__ = "referrer_notes"
    __table_args__ = (
        sa.Index("ix_referrer_notes_user_created", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Whom the note is about; gone with them when their account is deleted.
    user_id: Mapped[int] = user_key("CASCADE")
    #: The admin who wrote it; None once that admin's account is gone.
    author_id: Mapped[int | None] = user_key("SET NULL")
    body: Mapped[str] = mapped_column(sa.String(NOTE_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BlockedEmail(Base):
    """An address or a whole domain that may not sign up (admins keep the list).

    ``value`` is lower-case: "someone@example.com" blocks that address (after the
    same normalisation as signups), "example.com" every address at that domain and
    its subdomains.
    """

    __tablename__ = "blocked_emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(254), unique=True)
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    #: The admin who added it; None once that admin's account is gone.
    added_by_id: Mapped[int | None] = user_key("SET NULL")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
