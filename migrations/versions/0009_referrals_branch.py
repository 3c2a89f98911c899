"""Join the plugin's Alembic branch ("referrals"): its tables came from 0001-0008.

From here on the plugin's schema changes arrive as revisions of its branch (in
referral_site/referrals/migrations/), merged into the site's history like this.

Revision ID: 0009_referrals_branch
Revises: 0008_referral_accounts, referrals_0001
Create Date: 2026-12-02 16:35:00.000000

"""


# revision identifiers, used by Alembic.
revision = '0009_referrals_branch'
down_revision = ('0008_referral_accounts', 'referrals_0001')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
