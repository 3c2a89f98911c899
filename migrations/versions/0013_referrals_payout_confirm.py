"""Join the plugin's referrals_0009_payout_confirm (payout details confirmed by email).

Revision ID: 0013_referrals_payout_confirm
Revises: 0012_console, referrals_0009_payout_confirm
Create Date: 2026-12-03 14:00:00.000000

A merge of its own rather than a new parent for 0010_referrals_head: a database
already past 0010 counts every ancestor of 0010 as applied, so it would never run
a revision added there.
"""

# revision identifiers, used by Alembic.
revision = "0013_referrals_payout_confirm"
down_revision = ("0012_console", "referrals_0009_payout_confirm")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
