"""Payouts: payout details, batches, their lines and rewards, store credit uses.

Revision ID: referrals_0008_payouts
Revises: referrals_0007_console
Create Date: 2026-12-03 08:00:00.000000

Adds ``payout_accounts`` (how a person is paid) and ``payout_detail_changes`` (the
log of changes), ``payout_batches``, ``payout_lines`` and ``payout_items`` (with
the partial unique index that keeps a reward in at most one open payout), and
``store_credit_uses`` with ``store_credit_rewards`` (rewards their uses settled).
"""

import sqlalchemy as sa
from alembic import op
from flask import current_app

# revision identifiers, used by Alembic.
revision = "referrals_0008_payouts"
down_revision = "referrals_0007_console"
branch_labels = None
depends_on = None

METHODS = "method IN ('paypal', 'store_credit')"


def _user_column():
    (column,) = current_app.extensions["referrals"].user_model.__table__.primary_key
    return column


def _user_key():
    column = _user_column()
    return f"{column.table.name}.{column.name}"


def _user_key_type():
    return _user_column().type.copy()


def _user_fk(table: str, column: str, ondelete: str | None = None):
    name = f"fk_{table}_{column}_{_user_column().table.name}"
    return sa.ForeignKeyConstraint(
        [column], [_user_key()], name=op.f(name), ondelete=ondelete
    )


def upgrade():
    op.create_table(
        "payout_accounts",
        sa.Column("user_id", _user_key_type(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("paypal_email", sa.String(length=254), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(METHODS, name=op.f("ck_payout_accounts_method")),
        sa.CheckConstraint(
            "(method = 'paypal' AND paypal_email IS NOT NULL)"
            " OR (method = 'store_credit' AND paypal_email IS NULL)",
            name=op.f("ck_payout_accounts_method_details"),
        ),
        _user_fk("payout_accounts", "user_id", "CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_payout_accounts")),
    )
    op.create_table(
        "payout_detail_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", _user_key_type(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=254), nullable=False),
        sa.Column("ip_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(METHODS, name=op.f("ck_payout_detail_changes_method")),
        _user_fk("payout_detail_changes", "user_id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_detail_changes")),
    )
    op.create_index(
        "ix_payout_detail_changes_user_created",
        "payout_detail_changes",
        ["user_id", "created_at"],
    )
    op.create_table(
        "payout_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by_id", _user_key_type(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("paid_by_id", _user_key_type(), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'paid', 'failed')",
            name=op.f("ck_payout_batches_status"),
        ),
        _user_fk("payout_batches", "created_by_id", "SET NULL"),
        _user_fk("payout_batches", "paid_by_id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_batches")),
    )
    op.create_table(
        "payout_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("user_id", _user_key_type(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("paypal_email", sa.String(length=254), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("failure_reason", sa.String(length=500), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "amount_minor > 0", name=op.f("ck_payout_lines_amount_positive")
        ),
        sa.CheckConstraint(METHODS, name=op.f("ck_payout_lines_method")),
        sa.CheckConstraint(
            "status IN ('open', 'paid', 'failed')",
            name=op.f("ck_payout_lines_status"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["payout_batches.id"],
            name=op.f("fk_payout_lines_batch_id_payout_batches"),
        ),
        _user_fk("payout_lines", "user_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_lines")),
        sa.UniqueConstraint(
            "batch_id", "user_id", "currency", name=op.f("uq_payout_lines")
        ),
    )
    op.create_index("ix_payout_lines_user_id", "payout_lines", ["user_id"])
    op.create_table(
        "payout_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("reward_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["payout_lines.id"],
            name=op.f("fk_payout_items_line_id_payout_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"],
            ["rewards.id"],
            name=op.f("fk_payout_items_reward_id_rewards"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_items")),
    )
    op.create_index("ix_payout_items_line_id", "payout_items", ["line_id"])
    # A reward is held by at most one item that has not been released (its line
    # failed): two batches can never both pay it.
    op.create_index(
        "uq_payout_items_reward_held",
        "payout_items",
        ["reward_id"],
        unique=True,
        sqlite_where=sa.text("released_at IS NULL"),
        postgresql_where=sa.text("released_at IS NULL"),
    )
    op.create_table(
        "store_credit_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("user_id", _user_key_type(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "amount_minor > 0", name=op.f("ck_store_credit_uses_amount_positive")
        ),
        sa.CheckConstraint(
            "length(currency) = 3", name=op.f("ck_store_credit_uses_currency_code")
        ),
        _user_fk("store_credit_uses", "user_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_credit_uses")),
        sa.UniqueConstraint("reference", name=op.f("uq_store_credit_uses_reference")),
    )
    op.create_index(
        "ix_store_credit_uses_user_currency",
        "store_credit_uses",
        ["user_id", "currency"],
    )
    op.create_table(
        "store_credit_rewards",
        sa.Column("reward_id", sa.Integer(), nullable=False),
        sa.Column("use_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reward_id"],
            ["rewards.id"],
            name=op.f("fk_store_credit_rewards_reward_id_rewards"),
        ),
        sa.ForeignKeyConstraint(
            ["use_id"],
            ["store_credit_uses.id"],
            name=op.f("fk_store_credit_rewards_use_id_store_credit_uses"),
        ),
        sa.PrimaryKeyConstraint("reward_id", name=op.f("pk_store_credit_rewards")),
    )


def downgrade():
    op.drop_table("store_credit_rewards")
    op.drop_index("ix_store_credit_uses_user_currency", table_name="store_credit_uses")
    op.drop_table("store_credit_uses")
    op.drop_index("uq_payout_items_reward_held", table_name="payout_items")
    op.drop_index("ix_payout_items_line_id", table_name="payout_items")
    op.drop_table("payout_items")
    op.drop_index("ix_payout_lines_user_id", table_name="payout_lines")
    op.drop_table("payout_lines")
    op.drop_table("payout_batches")
    op.drop_index(
        "ix_payout_detail_changes_user_created", table_name="payout_detail_changes"
    )
    op.drop_table("payout_detail_changes")
    op.drop_table("payout_accounts")
