"""Emails: sent once per event (referral_emails), opt-outs, account links.

Revision ID: referrals_0004_emails
Revises: referrals_0003_outbox
Create Date: 2026-12-02 18:00:00.000000

The user key's table, column and type are the host's (its user model as
registered with the plugin), as in referrals_0001.
"""

import sqlalchemy as sa
from alembic import op
from flask import current_app

# revision identifiers, used by Alembic.
revision = "referrals_0004_emails"
# After the outbox's revision: one head for the branch, as every host needs.
down_revision = "referrals_0003_outbox"
branch_labels = None
depends_on = None

CATEGORIES = (
    "friend_signed_up",
    "reward_earned",
    "reward_approved",
    "reward_paid",
    "reward_rejected",
    "milestone_reached",
    "admin_digest",
)


def _user_column():
    (column,) = current_app.extensions["referrals"].user_model.__table__.primary_key
    return column


def _user_fk(table, column):
    user = _user_column()
    return sa.ForeignKeyConstraint(
        [column],
        [f"{user.table.name}.{user.name}"],
        name=op.f(f"fk_{table}_{column}_{user.table.name}"),
        ondelete="CASCADE",
    )


def _category():
    return sa.Enum(
        *CATEGORIES,
        name="category",
        native_enum=False,
        create_constraint=True,
        length=20,
    )


def upgrade():
    key_type = _user_column().type.copy()
    op.create_table(
        "referral_emails",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("category", _category(), nullable=False),
        sa.Column("recipient_id", key_type, nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        _user_fk("referral_emails", "recipient_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_emails")),
        sa.UniqueConstraint(
            "event_id",
            "recipient_id",
            "category",
            name=op.f("uq_referral_emails_event_id"),
        ),
    )
    op.create_index(
        op.f("ix_referral_emails_recipient_id"),
        "referral_emails",
        ["recipient_id"],
        unique=False,
    )
    op.create_table(
        "referral_email_optouts",
        sa.Column("user_id", key_type, autoincrement=False, nullable=False),
        sa.Column("category", _category(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _user_fk("referral_email_optouts", "user_id"),
        sa.PrimaryKeyConstraint(
            "user_id", "category", name=op.f("pk_referral_email_optouts")
        ),
    )
    op.create_table(
        "referral_email_tokens",
        sa.Column("id", sa.String(length=43), nullable=False),
        sa.Column(
            "purpose",
            sa.Enum(
                "password_reset",
                "verify_email",
                name="purpose",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("user_id", key_type, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        _user_fk("referral_email_tokens", "user_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_email_tokens")),
    )
    op.create_index(
        op.f("ix_referral_email_tokens_user_id"),
        "referral_email_tokens",
        ["user_id"],
        unique=False,
    )


def downgrade():
    op.drop_table("referral_email_tokens")
    op.drop_table("referral_email_optouts")
    op.drop_table("referral_emails")
