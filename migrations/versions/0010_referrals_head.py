"""Merge the plugin's branch head (the admin console's tables) into the site.

Revision ID: 0010_referrals_head
Revises: 0009_referrals_branch, referrals_0005_console
Create Date: 2026-12-02 18:00:00.000000

"""

# revision identifiers, used by Alembic.
revision = "0010_referrals_head"
down_revision = ("0009_referrals_branch", "referrals_0005_console")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
