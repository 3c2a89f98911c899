"""Merge the plugin branch's new revisions into the site's history.

Revision ID: 0010_referrals_head
Revises: 0009_referrals_branch, referrals_0002_billing
Create Date: 2026-12-02 17:45:00.000000

"""


# revision identifiers, used by Alembic.
revision = '0010_referrals_head'
down_revision = ('0009_referrals_branch', 'referrals_0002_billing')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
