"""Program settings edited in the browser: saved program versions, and on each
reward the version whose rule granted it; conversions indexed by when they
happened, for the referred revenue of a date range.

Revision ID: referrals_0002_settings
Revises: referrals_0001
Create Date: 2026-12-02 18:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from flask import current_app

# revision identifiers, used by Alembic.
revision = "referrals_0002_settings"
down_revision = "referrals_0001"
branch_labels = None
depends_on = None


def _user_column():
    (column,) = current_app.extensions["referrals"].user_model.__table__.primary_key
    return column


def upgrade():
    user = _user_column()
    op.create_table(
        "referral_program_versions",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("hold_days", sa.Integer(), nullable=False),
        sa.Column("attribution_window_days", sa.Integer(), nullable=False),
        sa.Column("attribution_model", sa.String(length=20), nullable=False),
        sa.Column("referrer_offer", sa.String(length=300), nullable=False),
        sa.Column("referred_offer", sa.String(length=300), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("created_by_id", user.type.copy(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "id > 0", name=op.f("ck_referral_program_versions_version_positive")
        ),
        sa.CheckConstraint(
            "hold_days >= 0",
            name=op.f("ck_referral_program_versions_hold_not_negative"),
        ),
        sa.CheckConstraint(
            "attribution_window_days > 0",
            name=op.f("ck_referral_program_versions_attribution_window_positive"),
        ),
        sa.CheckConstraint(
            "attribution_model IN ('first_touch', 'last_touch')",
            name=op.f("ck_referral_program_versions_attribution_model_known"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            [f"{user.table.name}.{user.name}"],
            name=op.f(f"fk_referral_program_versions_created_by_id_{user.table.name}"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_program_versions")),
    )
    # A nullable column without a default: a plain ALTER TABLE on every database.
    op.add_column("rewards", sa.Column("program_version", sa.Integer(), nullable=True))
    op.create_index(
        "ix_conversions_occurred_at", "conversions", ["occurred_at"], unique=False
    )


def downgrade():
    op.drop_index("ix_conversions_occurred_at", table_name="conversions")
    # SQLite 3.35+ drops a plain column in place (no table rebuild).
    op.drop_column("rewards", "program_version")
    op.drop_table("referral_program_versions")
