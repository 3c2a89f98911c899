"""The emails' tables: what was sent once per event, who opted out, account links."""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from referral_site.referrals.storage.db import Base, user_key
from referral_site.referrals.storage.models import BigId, UTCDateTime, _enum, utcnow


class EmailCategory(enum.StrEnum):
    """A kind of email a user may turn off (account emails are never optional)."""

    FRIEND_SIGNED_UP = "friend_signed_up"
    REWARD_EARNED = "reward_earned"
    REWARD_APPROVED = "reward_approved"
    REWARD_PAID = "reward_paid"
    REWARD_REJECTED = "reward_rejected"
    MILESTONE_REACHED = "milestone_reached"
    ADMIN_DIGEST = "admin_digest"


class TokenPurpose(enum.StrEnum):
    """What a link sent to an account's address does when followed."""

    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose's name, no secret
    VERIFY_EMAIL = "verify_email"
    #: Confirms a pending change of payout details (payouts/confirmation.py).
    PAYOUT_DETAILS = "payout_details"


class EmailDelivery(Base):
    """One email of one category to one recipient for one event: sent at most once.

    The unique (event, recipient, category) is what makes a job that handles an
    event more than once send its emails once: the row is claimed before the send.
    """

    __tablename__ = "referral_emails"
    __table_args__ = (sa.UniqueConstraint("event_id", "recipient_id", "category"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: The outbox event's id, or a key of the job's own ("digest:2026-12-02").
    event_id: Mapped[str] = mapped_column(sa.String(64))
    category: Mapped[EmailCategory] = mapped_column(_enum(EmailCategory, "category"))
    recipient_id: Mapped[int] = user_key("CASCADE", index=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: None while the send is under way (or died: reclaimed after a while).
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EmailOptOut(Base):
    """A category of email a user turned off (no row: the category is on)."""

    __tablename__ = "referral_email_optouts"

    user_id: Mapped[int] = user_key("CASCADE", primary_key=True, autoincrement=False)
    category: Mapped[EmailCategory] = mapped_column(
        _enum(EmailCategory, "category"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmailToken(Base):
    """A password reset, verification or payout details link: signed, expiring and
    used once.

    The link carries the signed id; following it marks the row used with a
    conditional UPDATE, so two clicks (or two tabs) cannot both succeed.
    """

    __tablename__ = "referral_email_tokens"

    id: Mapped[str] = mapped_column(sa.String(43), primary_key=True)
    purpose: Mapped[TokenPurpose] = mapped_column(_enum(TokenPurpose, "purpose"))
    user_id: Mapped[int] = user_key("CASCADE", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
