"""Join the plugin's branch at its head (its revisions after referrals_0001).

Revision ID: 0010_referrals_head
Revises: 0009_referrals_branch, referrals_0008_payouts
Create Date: 2026-12-02 18:00:00.000000

"""


# revision identifiers, used by Alembic.
revision = "0010_referrals_head"
down_revision = ("0009_referrals_branch", "referrals_0008_payouts")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
