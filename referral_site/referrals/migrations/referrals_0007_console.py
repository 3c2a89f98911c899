"""The admin console: notes on people, the email blocklist, admins' deductions.

Revision ID: referrals_0007_console
Revises: referrals_0006_code_holds
Create Date: 2026-12-02 18:00:00.000000

Adds ``referrer_notes`` and ``blocked_emails``, an index of referrals by review
status (the fraud queue counts the flagged ones on every admin page) and one by
(created_at, converted_at) (how many of a period's signups converted), and lets a
reward of rule "manual-deduction" be negative (an admin's deduction).
"""

import sqlalchemy as sa
from alembic import op
from flask import current_app

# revision identifiers, used by Alembic.
revision = "referrals_0007_console"
down_revision = "referrals_0006_code_holds"
branch_labels = None
depends_on = None

OLD_SIGN = (
    "(adjusts_reward_id IS NULL AND amount_minor > 0)"
    " OR (adjusts_reward_id IS NOT NULL AND amount_minor < 0)"
)
NEW_SIGN = (
    "(adjusts_reward_id IS NULL AND amount_minor > 0 AND rule <> 'manual-deduction')"
    " OR (adjusts_reward_id IS NOT NULL AND amount_minor < 0)"
    " OR (adjusts_reward_id IS NULL AND amount_minor < 0"
    " AND rule = 'manual-deduction')"
)


def _user_column():
    (column,) = current_app.extensions["referrals"].user_model.__table__.primary_key
    return column


def _user_key():
    column = _user_column()
    return f"{column.table.name}.{column.name}"


def _user_table():
    return _user_column().table.name


def _user_key_type():
    return _user_column().type.copy()


def upgrade():
    op.create_table(
        "referrer_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", _user_key_type(), nullable=False),
        sa.Column("author_id", _user_key_type(), nullable=True),
        sa.Column("body", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            [_user_key()],
            name=op.f(f"fk_referrer_notes_user_id_{_user_table()}"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            [_user_key()],
            name=op.f(f"fk_referrer_notes_author_id_{_user_table()}"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrer_notes")),
    )
    op.create_index(
        "ix_referrer_notes_user_created",
        "referrer_notes",
        ["user_id", "created_at"],
    )
    op.create_table(
        "blocked_emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=254), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("added_by_id", _user_key_type(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            [_user_key()],
            name=op.f(f"fk_blocked_emails_added_by_id_{_user_table()}"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocked_emails")),
        sa.UniqueConstraint("value", name=op.f("uq_blocked_emails_value")),
    )
    op.create_index("ix_referrals_review_status", "referrals", ["review_status"])
    op.create_index(
        "ix_referrals_created_converted", "referrals", ["created_at", "converted_at"]
    )
    _set_amount_sign(NEW_SIGN)


def downgrade():
    _set_amount_sign(OLD_SIGN)
    op.drop_index("ix_referrals_created_converted", table_name="referrals")
    op.drop_index("ix_referrals_review_status", table_name="referrals")
    op.drop_table("blocked_emails")
    op.drop_index("ix_referrer_notes_user_created", table_name="referrer_notes")
    op.drop_table("referrer_notes")


def _set_amount_sign(condition: str) -> None:
    # Batch: SQLite rebuilds the table (named CHECK constraints come along).
    with op.batch_alter_table("rewards") as batch:
        batch.drop_constraint(op.f("ck_rewards_amount_sign"), type_="check")
        batch.create_check_constraint(op.f("ck_rewards_amount_sign"), condition)
