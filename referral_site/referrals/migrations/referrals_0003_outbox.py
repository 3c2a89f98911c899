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
)


def upgrade():
    _outbox()


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
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
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
