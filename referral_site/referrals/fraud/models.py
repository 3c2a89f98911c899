"""Tables for trustworthy attribution: code aliases, fraud signals, flag history,
where users were seen signed in, and the click counts kept after visits are purged."""

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from referral_site.referrals.storage.db import Base, user_key
from referral_site.referrals.storage.models import (
    ReferralAccount,
    UTCDateTime,
    _enum,
    utcnow,
)


class FraudSignal(enum.StrEnum):
    """A named reason to doubt a referral; each one only flags, never blocks."""

    OWN_EMAIL = "own_email"  # referred email is the referrer's after normalisation
    SAME_DEVICE = "same_device"  # visitor id also seen on the referrer's session
    SAME_IP = "same_ip"  # same IP hash as the referrer within the window
    DISPOSABLE_EMAIL = "disposable_email"
    IP_VELOCITY = "ip_velocity"  # many referred signups from one IP hash
    REFERRER_VELOCITY = "referrer_velocity"  # many signups for one referrer
    REFUNDED_SOON = "refunded_soon"  # the conversion was refunded soon after


class SignalStage(enum.StrEnum):
    """When a signal was raised."""

    SIGNUP = "signup"
    CONVERSION = "conversion"
    MANUAL = "manual"


class FlagAction(enum.StrEnum):
    """What happened to a referral's review in one history entry."""

    FLAGGED = "flagged"  # signals added (the first ones, or new evidence)
    CLEARED = "cleared"
    CONFIRMED = "confirmed"


class SightingKind(enum.StrEnum):
    """What identifies where a signed-in user was seen."""

    DEVICE = "device"  # the first-party visitor id cookie
    IP = "ip"  # the keyed IP hash


class ReferralCode(Base):
    """A code that leads to a user: the primary one and the aliases it replaced."""

    __tablename__ = "referral_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Upper-case, so the unique constraint holds case-insensitively.
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    user_id: Mapped[int] = user_key("CASCADE", index=True)
    is_primary: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReferralCodeHold(Base):
    """A forgotten user's code, kept from anyone else until ``held_until``.

    A capture cookie carries a code, not its owner: were the code taken by someone
    else within the attribution window, the cookies set for its old owner would
    credit the new one. No user is named here, so forgetting stays forgetting.
    """

    __tablename__ = "referral_code_holds"

    code: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    held_until: Mapped[datetime] = mapped_column(UTCDateTime)


class ReferralSignalRecord(Base):
    """One fraud signal raised on one referral, at most once per name."""

    __tablename__ = "referral_signals"
    __table_args__ = (sa.UniqueConstraint("referral_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(
        sa.ForeignKey("referrals.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[FraudSignal] = mapped_column(_enum(FraudSignal, "signal"))
    stage: Mapped[SignalStage] = mapped_column(_enum(SignalStage, "stage"))
    #: A human-readable explanation; never an email address or an IP.
    detail: Mapped[str] = mapped_column(sa.String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReferralFlagEvent(Base):
    """Append-only history of a referral's review: who, when, what and why."""

    __tablename__ = "referral_flag_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(
        sa.ForeignKey("referrals.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[FlagAction] = mapped_column(_enum(FlagAction, "action"))
    #: The admin who decided; None when the system raised the flag.
    actor_id: Mapped[int | None] = user_key("SET NULL")
    reason: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UserSighting(Base):
    """A device or IP hash seen on a user's signed-in session, and when last."""

    __tablename__ = "user_sightings"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "kind", "value"),
        sa.Index("ix_user_sightings_kind_value", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = user_key("CASCADE")
    kind: Mapped[SightingKind] = mapped_column(_enum(SightingKind, "kind"))
    value: Mapped[str] = mapped_column(sa.String(64))
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VisitRollup(Base):
    """Per referrer and UTC day: clicks, referred signups and first conversions.

    Counted when each visit or referral is written (see reports/rollups.py); the reports
    read these counts, and purging old visits leaves them alone.
    """

    __tablename__ = "visit_rollups"
    __table_args__ = (
        sa.UniqueConstraint("referrer_id", "day"),
        sa.Index("ix_visit_rollups_day", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referrer_id: Mapped[int] = user_key("CASCADE")
    day: Mapped[date] = mapped_column(sa.Date)
    clicks: Mapped[int] = mapped_column(default=0)
    #: Referrals created that day.
    signups: Mapped[int] = mapped_column(default=0, server_default="0")
    #: Referrals that converted that day (status converted, by converted_at).
    conversions: Mapped[int] = mapped_column(default=0, server_default="0")


@sa.event.listens_for(ReferralAccount, "after_insert")
def insert_primary_code(mapper, connection, target) -> None:
    """After an account row is inserted, register its code so links to it resolve.

    Listening on the account covers every way one is created (signup, the
    host's attribute_signup, a first visit to a page, backfill) in the same
    transaction as the account row.
    """
    connection.execute(
        _INSERT_CODE,
        {
            "code": target.code,
            "user_id": target.user_id,
            "is_primary": True,
            "created_at": utcnow(),
        },
    )


#: Built once: every signup runs it, and building it cost more than running it.
_INSERT_CODE = sa.insert(ReferralCode)
