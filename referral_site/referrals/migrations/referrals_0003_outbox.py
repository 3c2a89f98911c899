"""The outbox and its consumers' progress; webhook endpoints, deliveries, attempts.

Revision ID: referrals_0003_outbox
Revises: referrals_0001
Create Date: 2026-12-02 17:45:00.000000
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "referrals_0003_outbox"
down_revision = "referrals_0001"
branch_labels = None
depends_on = None

#: Every table this revision creates, dependents last.
TABLES = (
    "referrals_outbox_events",
    "referrals_outbox_progress",
    "referrals_webhook_endpoints",
    "referrals_webhook_deliveries",
    "referrals_webhook_attempts",
)
#: Big integer ids on PostgreSQL; SQLite only auto-increments INTEGER PRIMARY KEY.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    _outbox()
    _webhooks()


def downgrade():
    for name in reversed(TABLES):
        op.drop_table(name)


def _outbox():
    op.create_table(
        "referrals_outbox_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fanned_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals_outbox_events")),
    )
    op.create_index(
        op.f("ix_referrals_outbox_events_fanned_out_at"),
        "referrals_outbox_events",
        ["fanned_out_at"],
    )
    op.create_table(
        "referrals_outbox_progress",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("consumer", sa.String(length=40), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["referrals_outbox_events.id"],
            name=op.f(
                "fk_referrals_outbox_progress_event_id_referrals_outbox_events"
            ),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals_outbox_progress")),
        sa.UniqueConstraint(
            "event_id", "consumer", name=op.f("uq_referrals_outbox_progress_event_id")
        ),
    )
    op.create_index(
        op.f("ix_referrals_outbox_progress_due_at"),
        "referrals_outbox_progress",
        ["due_at"],
    )


def _webhooks():
    op.create_table(
        "referrals_webhook_endpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("previous_secret", sa.String(length=100), nullable=True),
        sa.Column(
            "previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True
        ),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_reason", sa.String(length=300), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals_webhook_endpoints")),
    )
    op.create_table(
        "referrals_webhook_deliveries",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "delivered",
                "failed",
                name="delivery_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["referrals_webhook_endpoints.id"],
            name=op.f(
                "fk_referrals_webhook_deliveries_endpoint_id_"
                "referrals_webhook_endpoints"
            ),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["referrals_outbox_events.id"],
            name=op.f(
                "fk_referrals_webhook_deliveries_event_id_referrals_outbox_events"
            ),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals_webhook_deliveries")),
        sa.UniqueConstraint(
            "endpoint_id",
            "event_id",
            name=op.f("uq_referrals_webhook_deliveries_endpoint_id"),
        ),
    )
    op.create_index(
        op.f("ix_referrals_webhook_deliveries_due_at"),
        "referrals_webhook_deliveries",
        ["due_at"],
    )
    op.create_index(
        "ix_referrals_webhook_deliveries_endpoint_created",
        "referrals_webhook_deliveries",
        ["endpoint_id", "created_at"],
    )
    op.create_table(
        "referrals_webhook_attempts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("delivery_id", BIG_ID, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("response_start", sa.String(length=500), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["referrals_webhook_deliveries.id"],
            name=op.f(
                "fk_referrals_webhook_attempts_delivery_id_"
                "referrals_webhook_deliveries"
            ),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals_webhook_attempts")),
    )
    op.create_index(
        op.f("ix_referrals_webhook_attempts_delivery_id"),
        "referrals_webhook_attempts",
        ["delivery_id"],
    )
