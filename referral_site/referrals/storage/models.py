"""The plugin's tables: referrals, visits, conversions, rewards and the reward history.

The host's user model must live in the ``users`` table and include
:class:`ReferralUserMixin`; every table here points at ``users.id``.
"""

import enum
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral_site.referrals.storage.db import Base, user_key


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no time zones and hands back naive values; this keeps comparisons
    between stored and computed times correct on every database.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


#: Big integer ids on PostgreSQL; SQLite only auto-increments INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _enum(enum_class: type[enum.Enum], name: str) -> sa.Enum:
    """A portable enum column type: VARCHAR plus a CHECK constraint of its values."""
    return sa.Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class CaptureSource(enum.StrEnum):
    """How a referral code reached the signup."""

    LINK = "link"  # /r/<code>
    QUERY = "query"  # any page with ?ref=<code>
    TYPED = "typed"  # typed into the signup form


class ReferralStatus(enum.StrEnum):
    """Where a referral stands."""

    SIGNED_UP = "signed_up"
    CONVERTED = "converted"
    REJECTED = "rejected"


class ReviewStatus(enum.StrEnum):
    """An admin's view of a referral's trustworthiness."""

    CLEAR = "clear"  # no suspicious signal: rewards follow the rules
    FLAGGED = "flagged"  # suspicious: rewards wait for an admin
    CLEARED = "cleared"  # an admin looked and let it through
    CONFIRMED = "confirmed"  # an admin confirmed abuse: rewards are rejected


class RewardKind(enum.StrEnum):
    """What a reward is paid as."""

    CREDIT = "credit"
    CASH = "cash"
    COUPON = "coupon"


class RewardStatus(enum.StrEnum):
    """Where a reward stands in its review."""

    PENDING = "pending"  # in its hold period
    REVIEW = "review"  # hold over, waiting for an admin (flagged referral or rule)
    APPROVED = "approved"
    REJECTED = "rejected"
    PAID = "paid"
    REVERSED = "reversed"  # its source conversion was refunded before payment


class ReferralAccount(Base):
    """A user's place in the program, kept by the plugin beside the host's user row.

    Created with the user by the plugin's signup and ``attribute_signup``, or when
    first needed for a user the host created alone (``accounts.ensure_account``).
    """

    __tablename__ = "referral_accounts"

    # created_at is counted per day as the program's new users (reports/rollups.py):
    # active_history loads the old value of one set unread.
    user_id: Mapped[int] = user_key("CASCADE", primary_key=True, autoincrement=False)
    #: The user's own code, stored upper-case; matched case-insensitively. Older
    #: codes stay in referral_codes as aliases.
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    #: Who referred them, set once when the account is created.
    referred_by_id: Mapped[int | None] = user_key("SET NULL", index=True)
    #: When the user joined the program (their signup, for the site's users).
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, active_history=True
    )
    #: Set when the account was forgotten: the row stays, for the history.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A forgotten account's mailbox as a keyed hash (fraud.mailbox_digest): it can
    #: be matched against a new signup's address, so forgetting an account does not
    #: open a referral loop, but the address cannot be read back.
    deleted_mailbox_digest: Mapped[str | None] = mapped_column(sa.String(64))
    #: Set while the host has the account suspended (``suspend_user``): its codes
    #: lead nowhere and it earns nothing until ``restore_user``.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Referral(Base):
    """One referred user attributed to one referrer; at most one per referred user."""

    __tablename__ = "referrals"
    __table_args__ = (
        sa.CheckConstraint("referrer_id <> referred_id", name="not_self"),
        sa.Index("ix_referrals_referrer_created", "referrer_id", "created_at"),
        sa.Index("ix_referrals_signup_ip_created", "signup_ip_hash", "created_at"),
        # The reports' date ranges.
        sa.Index("ix_referrals_created_at", "created_at"),
        sa.Index("ix_referrals_converted_at", "converted_at"),
        # The fraud queue and the console's count of flagged referrals.
        sa.Index("ix_referrals_review_status", "review_status"),
        # How many of a period's signups converted, from the index alone.
        sa.Index("ix_referrals_created_converted", "created_at", "converted_at"),
        # The admin funnel's converted cohort: the same count, reading the
        # converted referrals only.
        sa.Index(
            "ix_referrals_created_where_converted",
            "created_at",
            sqlite_where=sa.text("converted_at IS NOT NULL"),
            postgresql_where=sa.text("converted_at IS NOT NULL"),
        ),
    )

    # referrer_id, status, converted_at and created_at are counted per day
    # (reports/rollups.py): active_history loads the old value of one set unread, so a
    # change moves its count from the right day.
    id: Mapped[int] = mapped_column(primary_key=True)
    referrer_id: Mapped[int] = user_key(active_history=True)
    referred_id: Mapped[int] = user_key(unique=True)
    code: Mapped[str] = mapped_column(sa.String(32))
    source: Mapped[CaptureSource] = mapped_column(_enum(CaptureSource, "source"))
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    visit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("visits.id", ondelete="SET NULL")
    )
    status: Mapped[ReferralStatus] = mapped_column(
        _enum(ReferralStatus, "status"),
        default=ReferralStatus.SIGNED_UP,
        active_history=True,
    )
    #: When the referred user first converted (purchase, subscription...).
    converted_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, active_history=True
    )
    review_status: Mapped[ReviewStatus] = mapped_column(
        _enum(ReviewStatus, "review_status"), default=ReviewStatus.CLEAR
    )
    #: Keyed hash of the IP and the visitor id the signup came from (fraud signals).
    signup_ip_hash: Mapped[str | None] = mapped_column(sa.String(64))
    signup_visitor_id: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, active_history=True
    )

    rewards: Mapped[list["Reward"]] = relationship(back_populates="referral")


class VisitBatch(Base):
    """A batch of buffered clicks written (capture/visit_buffer.py), by its id.

    A write whose answer is lost (the connection dropped at the commit) is tried
    again; the id, inserted in the batch's own transaction, tells the retry that
    the first try committed, so no click is counted twice. Pruned after a day.
    """

    __tablename__ = "visit_batches"

    id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Visit(Base):
    """A click on a referral link (or a page opened with ?ref=)."""

    __tablename__ = "visits"
    __table_args__ = (
        sa.Index("ix_visits_referrer_created", "referrer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32))
    referrer_id: Mapped[int] = user_key("CASCADE")
    #: Random first-party id from the visitor cookie; says nothing about the person.
    visitor_id: Mapped[str] = mapped_column(sa.String(32))
    landing_path: Mapped[str] = mapped_column(sa.String(512))
    source: Mapped[CaptureSource] = mapped_column(_enum(CaptureSource, "source"))
    #: Keyed hash (HMAC) of the client IP; the IP itself is never stored.
    ip_hash: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True
    )


class Conversion(Base):
    """An outcome of a user (signup, purchase...), stored once per external id."""

    __tablename__ = "conversions"
    __table_args__ = (
        sa.CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
        sa.CheckConstraint("length(currency) = 3", name="currency_code"),
        # The referred revenue of a date range (reports/revenue.py).
        sa.Index("ix_conversions_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The host billing system's id of the event; a second delivery is a replay.
    external_id: Mapped[str] = mapped_column(sa.String(128), unique=True)
    user_id: Mapped[int] = user_key(index=True)
    #: The user's referral when they were referred; None still counts in reports.
    referral_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("referrals.id"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32))
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: How much of the amount was refunded so far (partial refunds add up to it).
    refunded_minor: Mapped[int] = mapped_column(
        sa.BigInteger, default=0, server_default="0"
    )
    #: Why its rewards are held (a payment dispute): not approvable, not payable.
    held_reason: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


#: The rule of an admin's manual reward, and of an admin's deduction.
MANUAL_RULE = "manual"
DEDUCTION_RULE = "manual-deduction"
#: The sign an amount must have: what the amount_sign CHECK constraint says.
AMOUNT_SIGN = (
    "(adjusts_reward_id IS NULL AND amount_minor > 0 AND rule <> 'manual-deduction')"
    " OR (adjusts_reward_id IS NOT NULL AND amount_minor < 0)"
    " OR (adjusts_reward_id IS NULL AND amount_minor < 0"
    " AND rule = 'manual-deduction')"
)


def _manual_source() -> str:
    return f"manual:{secrets.token_hex(8)}"


class Reward(Base):
    """Value owed to a user because of a referral; money in integer minor units.

    ``status`` is the current state; every change is also a :class:`RewardEvent`.
    A rule grants at most once per source and recipient: (rule, source_key, user_id)
    is unique, whatever retries or racing workers do.
    """

    __tablename__ = "rewards"
    __table_args__ = (
        sa.CheckConstraint("length(currency) = 3", name="currency_code"),
        # Grants are positive; only the clawback of a paid reward and an admin's
        # deduction are negative.
        sa.CheckConstraint(AMOUNT_SIGN, name="amount_sign"),
        sa.UniqueConstraint("rule", "source_key", "user_id", name="uq_rewards_grant"),
        sa.Index("ix_rewards_user_status", "user_id", "status"),
        # A user's latest rewards, newest first, without sorting all of them.
        sa.Index("ix_rewards_user_created", "user_id", "created_at", "id"),
        sa.Index("ix_rewards_status_hold", "status", "hold_until"),
        sa.Index("ix_rewards_created_at", "created_at"),
    )

    # user_id, amount_minor, currency, status and created_at are counted
    # (rewards/totals.py): active_history loads the old value of one set unread.
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = user_key(active_history=True)
    referral_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("referrals.id"), index=True
    )
    kind: Mapped[RewardKind] = mapped_column(_enum(RewardKind, "kind"))
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger, active_history=True)
    currency: Mapped[str] = mapped_column(sa.String(3), active_history=True)
    status: Mapped[RewardStatus] = mapped_column(
        _enum(RewardStatus, "status"),
        default=RewardStatus.PENDING,
        active_history=True,
    )
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, active_history=True
    )
    #: Name of the configured rule that granted it ("adjustment" for clawbacks,
    #: "manual" for a reward a host or an admin created, "manual-deduction" for an
    #: admin's deduction).
    rule: Mapped[str] = mapped_column(sa.String(64), default="manual")
    #: What it was granted for: "conversion:<id>", "referral:<id>",
    #: "milestone:<n>" or "adjustment:<reward id>"; a random "manual:..." otherwise.
    source_key: Mapped[str] = mapped_column(sa.String(64), default=_manual_source)
    conversion_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("conversions.id"), index=True
    )
    #: For a negative adjustment: the paid reward it takes back.
    adjusts_reward_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rewards.id"))
    #: When the outcome happened (caps count calendar months of this time).
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Not approvable before this time, to wait out refunds.
    hold_until: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The program version whose rule granted it (referral_program_versions.id);
    #: None for the configuration's program and for rewards no rule granted.
    program_version: Mapped[int | None] = mapped_column(sa.Integer)

    referral: Mapped[Referral | None] = relationship(back_populates="rewards")


class RewardEvent(Base):
    """One change of a reward, append-only: balances are sums over these rows.

    An event moves ``amount_minor`` out of ``from_status`` (None at creation) into
    ``to_status``; a status's balance is what came in minus what went out.
    """

    __tablename__ = "reward_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reward_id: Mapped[int] = mapped_column(sa.ForeignKey("rewards.id"), index=True)
    from_status: Mapped[RewardStatus | None] = mapped_column(
        _enum(RewardStatus, "from_status")
    )
    to_status: Mapped[RewardStatus] = mapped_column(_enum(RewardStatus, "to_status"))
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    #: Who decided; None for the system (rules, process-rewards, refunds by API).
    actor_id: Mapped[int | None] = user_key("SET NULL")
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@sa.event.listens_for(RewardEvent, "before_update")
@sa.event.listens_for(RewardEvent, "before_delete")
def _history_is_append_only(_mapper, _connection, target) -> None:
    raise RuntimeError("reward history is append-only")
