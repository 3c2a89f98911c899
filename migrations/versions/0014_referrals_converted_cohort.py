"""Join the plugin's referrals_0010_converted_cohort (converted referrals indexed).

Revision ID: 0014_referrals_converted_cohort
Revises: 0013_referrals_payout_confirm, referrals_0010_converted_cohort
Create Date: 2026-12-03 16:15:00.000000

A merge of its own rather than a new parent for 0013_referrals_payout_confirm: a
database already past 0013 counts every ancestor of 0013 as applied, so it would
never run a revision added there.
"""

# revision identifiers, used by Alembic.
revision = "0014_referrals_converted_cohort"
down_revision = ("0013_referrals_payout_confirm", "referrals_0010_converted_cohort")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
