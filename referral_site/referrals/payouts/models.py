"""The payout tables: people's payout details (and changes waiting for confirmation),
batches, their lines and rewards, and store credit used by the host.

"A reward is in at most one open payout" is the partial unique index
``uq_payout_items_reward_held``: an item holds its reward until its line fails
(``released_at``), and a paid line keeps holding it, so no second batch can take it.
"""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from referral_site.referrals.storage.db import Base, user_key
from referral_site.referrals.storage.models import UTCDateTime, _enum, utcnow


class PayoutMethod(enum.StrEnum):
    """How a person is paid: to a PayPal account, or as store credit by the host."""

    PAYPAL = "paypal"
    STORE_CREDIT = "store_credit"


class BatchStatus(enum.StrEnum):
    """A batch is open until marked paid, or closed once every line failed."""

    OPEN = "open"
    PAID = "paid"
    FAILED = "failed"


class LineStatus(enum.StrEnum):
    """A line (one person, one currency) is paid with its batch, or failed alone."""

    OPEN = "open"
    PAID = "paid"
    FAILED = "failed"


#: A PayPal address exactly when paid by PayPal: the details in force and a change
#: awaiting confirmation alike.
METHOD_MATCHES_DETAILS = (
    "(method = 'paypal' AND paypal_email IS NOT NULL)"
    " OR (method = 'store_credit' AND paypal_email IS NULL)"
)


class PayoutAccount(Base):
    """Where a person wants to be paid. No bank numbers or tax identifiers."""

    __tablename__ = "payout_accounts"
    __table_args__ = (
        sa.CheckConstraint(METHOD_MATCHES_DETAILS, name="method_details"),
    )

    user_id: Mapped[int] = user_key("CASCADE", primary_key=True)
    method: Mapped[PayoutMethod] = mapped_column(_enum(PayoutMethod, "method"))
    paypal_email: Mapped[str | None] = mapped_column(sa.String(254))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PayoutDetailChange(Base):
    """One change of a person's payout details, as they made it; append-only."""

    __tablename__ = "payout_detail_changes"
    __table_args__ = (
        sa.Index("ix_payout_detail_changes_user_created", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = user_key("CASCADE")
    method: Mapped[PayoutMethod] = mapped_column(_enum(PayoutMethod, "method"))
    #: The new address, masked ("a***@example.com"): the log says a change
    #: happened and roughly to what, without keeping every address ever used.
    detail: Mapped[str] = mapped_column(sa.String(254), default="")
    #: Keyed hash of the IP the change came from.
    ip_hash: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PendingPayoutDetails(Base):
    """A change of payout details asked for with the password, waiting for the link
    emailed to the account's own address; one per person, a newer request replaces
    it (the primary key is the person)."""

    __tablename__ = "payout_pending_details"
    __table_args__ = (
        sa.CheckConstraint(METHOD_MATCHES_DETAILS, name="method_details"),
    )

    user_id: Mapped[int] = user_key("CASCADE", primary_key=True, autoincrement=False)
    method: Mapped[PayoutMethod] = mapped_column(_enum(PayoutMethod, "method"))
    paypal_email: Mapped[str | None] = mapped_column(sa.String(254))
    #: The account's address the link was sent to: once the account has another
    #: (the host changed it), the change is dropped, since the link no longer
    #: proves the account's owner asked for it.
    sent_to: Mapped[str] = mapped_column(sa.String(254))
    #: Keyed hash of the IP the change was asked from (logged once confirmed).
    ip_hash: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PayoutBatch(Base):
    """A payout run an admin created from what was due."""

    __tablename__ = "payout_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[BatchStatus] = mapped_column(
        _enum(BatchStatus, "status"), default=BatchStatus.OPEN
    )
    created_by_id: Mapped[int | None] = user_key("SET NULL")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The provider's reference of the payment (PayPal's batch id...), once paid.
    reference: Mapped[str] = mapped_column(sa.String(128), default="")
    paid_by_id: Mapped[int | None] = user_key("SET NULL")
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PayoutLine(Base):
    """What one person is paid in one currency in a batch: the net of its rewards."""

    __tablename__ = "payout_lines"
    __table_args__ = (
        sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
        sa.UniqueConstraint("batch_id", "user_id", "currency", name="uq_payout_lines"),
        sa.Index("ix_payout_lines_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(sa.ForeignKey("payout_batches.id"))
    user_id: Mapped[int] = user_key()
    currency: Mapped[str] = mapped_column(sa.String(3))
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    method: Mapped[PayoutMethod] = mapped_column(_enum(PayoutMethod, "method"))
    #: The address paid, as it was when the batch was created.
    paypal_email: Mapped[str] = mapped_column(sa.String(254), default="")
    status: Mapped[LineStatus] = mapped_column(
        _enum(LineStatus, "status"), default=LineStatus.OPEN
    )
    failure_reason: Mapped[str] = mapped_column(sa.String(500), default="")
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PayoutItem(Base):
    """A reward in a line (negative ones are clawbacks netted off the line)."""

    __tablename__ = "payout_items"
    __table_args__ = (
        sa.Index(
            "uq_payout_items_reward_held",
            "reward_id",
            unique=True,
            sqlite_where=sa.text("released_at IS NULL"),
            postgresql_where=sa.text("released_at IS NULL"),
        ),
        sa.Index("ix_payout_items_line_id", "line_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(sa.ForeignKey("payout_lines.id"))
    reward_id: Mapped[int] = mapped_column(sa.ForeignKey("rewards.id"))
    #: The reward's amount when it was batched (a batched reward is never edited).
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    #: When its line failed and the reward went back to what is due.
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StoreCreditUse(Base):
    """Store credit the host applied (an order paid with it), once per reference."""

    __tablename__ = "store_credit_uses"
    __table_args__ = (
        sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
        sa.CheckConstraint("length(currency) = 3", name="currency_code"),
        sa.Index("ix_store_credit_uses_user_currency", "user_id", "currency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The host's reference of the use (an order number): a repeat is a replay.
    reference: Mapped[str] = mapped_column(sa.String(128), unique=True)
    user_id: Mapped[int] = user_key()
    currency: Mapped[str] = mapped_column(sa.String(3))
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StoreCreditReward(Base):
    """A reward settled (marked paid) because store credit uses covered it."""

    __tablename__ = "store_credit_rewards"

    reward_id: Mapped[int] = mapped_column(
        sa.ForeignKey("rewards.id"), primary_key=True
    )
    use_id: Mapped[int] = mapped_column(sa.ForeignKey("store_credit_uses.id"))
