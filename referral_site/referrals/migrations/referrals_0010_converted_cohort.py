"""A partial index of converted referrals by creation time.

Revision ID: referrals_0010_converted_cohort
Revises: referrals_0009_payout_confirm
Create Date: 2026-12-03 16:15:00.000000

The admin funnel counts the referrals of a period that have converted since. On
``ix_referrals_created_converted`` that count reads every referral of the period;
``ix_referrals_created_where_converted`` holds the converted ones only.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "referrals_0010_converted_cohort"
down_revision = "referrals_0009_payout_confirm"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_referrals_created_where_converted",
        "referrals",
        ["created_at"],
        sqlite_where=sa.text("converted_at IS NOT NULL"),
        postgresql_where=sa.text("converted_at IS NOT NULL"),
    )


def downgrade():
    op.drop_index("ix_referrals_created_where_converted", table_name="referrals")
