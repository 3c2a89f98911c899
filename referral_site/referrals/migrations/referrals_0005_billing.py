"""Stripe billing: the events received, the ids tying Stripe to users and
conversions, and a conversion's partial refunds and dispute hold.

Revision ID: referrals_0005_billing
Revises: referrals_0004_emails
Create Date: 2026-12-02 17:45:00.000000
"""

import sqlalchemy as sa
from alembic import op
from flask import current_app

# revision identifiers, used by Alembic.
revision = "referrals_0005_billing"
down_revision = "referrals_0004_emails"
branch_labels = None
depends_on = None

OUTCOMES = ("received", "applied", "ignored", "unattributed", "waiting", "failed")


def _user_column():
    (column,) = current_app.extensions["referrals"].user_model.__table__.primary_key
    return column


def _user_fk(table, column, ondelete):
    user = _user_column()
    return sa.ForeignKeyConstraint(
        [column],
        [f"{user.table.name}.{user.name}"],
        name=op.f(f"fk_{table}_{column}_{user.table.name}"),
        ondelete=ondelete,
    )


def _conversion_fk(table):
    return sa.ForeignKeyConstraint(
        ["conversion_id"],
        ["conversions.id"],
        name=op.f(f"fk_{table}_conversion_id_conversions"),
    )


def upgrade():
    with op.batch_alter_table("conversions") as batch:
        batch.add_column(
            sa.Column(
                "refunded_minor", sa.BigInteger(), server_default="0", nullable=False
            )
        )
        batch.add_column(sa.Column("held_reason", sa.String(200), nullable=True))
    user_type = _user_column().type.copy()
    op.create_table(
        "billing_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stripe_id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("object_id", sa.String(255), nullable=True),
        sa.Column("payment_key", sa.String(255), nullable=True),
        sa.Column("customer_id", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                *OUTCOMES,
                name="outcome",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("user_id", user_type, nullable=True),
        sa.Column("conversion_id", sa.Integer(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        _conversion_fk("billing_events"),
        _user_fk("billing_events", "user_id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_events")),
        sa.UniqueConstraint("stripe_id", name=op.f("uq_billing_events_stripe_id")),
    )
    for name, columns in (
        ("ix_billing_events_type", ["type"]),
        ("ix_billing_events_payment_key", ["payment_key"]),
        ("ix_billing_events_conversion_id", ["conversion_id"]),
        ("ix_billing_events_outcome_received", ["outcome", "received_at"]),
    ):
        op.create_index(op.f(name), "billing_events", columns, unique=False)
    op.create_table(
        "billing_customers",
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("user_id", user_type, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _user_fk("billing_customers", "user_id", "CASCADE"),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_billing_customers")),
    )
    op.create_index(
        op.f("ix_billing_customers_user_id"), "billing_customers", ["user_id"]
    )
    op.create_table(
        "billing_subscriptions",
        sa.Column("subscription_id", sa.String(255), nullable=False),
        sa.Column("user_id", user_type, nullable=True),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        _user_fk("billing_subscriptions", "user_id", "CASCADE"),
        sa.PrimaryKeyConstraint(
            "subscription_id", name=op.f("pk_billing_subscriptions")
        ),
    )
    op.create_index(
        op.f("ix_billing_subscriptions_user_id"), "billing_subscriptions", ["user_id"]
    )
    op.create_table(
        "billing_payments",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("conversion_id", sa.Integer(), nullable=False),
        _conversion_fk("billing_payments"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_billing_payments")),
    )
    op.create_table(
        "billing_refunds",
        sa.Column("refund_id", sa.String(255), nullable=False),
        sa.Column("conversion_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        _conversion_fk("billing_refunds"),
        sa.PrimaryKeyConstraint("refund_id", name=op.f("pk_billing_refunds")),
    )
    op.create_table(
        "billing_disputes",
        sa.Column("dispute_id", sa.String(255), nullable=False),
        sa.Column("conversion_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(100), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        _conversion_fk("billing_disputes"),
        sa.PrimaryKeyConstraint("dispute_id", name=op.f("pk_billing_disputes")),
    )
    for table in ("billing_payments", "billing_refunds", "billing_disputes"):
        op.create_index(
            op.f(f"ix_{table}_conversion_id"), table, ["conversion_id"], unique=False
        )


def downgrade():
    for table in (
        "billing_disputes",
        "billing_refunds",
        "billing_payments",
        "billing_subscriptions",
        "billing_customers",
        "billing_events",
    ):
        op.drop_table(table)
    with op.batch_alter_table("conversions") as batch:
        batch.drop_column("held_reason")
        batch.drop_column("refunded_minor")
