"""join the referrals plugin's program settings revision

Revision ID: shop_0003
Revises: shop_0002, referrals_0006_settings
Create Date: 2026-12-02 18:00:00.000000

A plugin release that brings a revision is joined like the first one:
flask db merge shop_0002 referrals@head.
"""


# revision identifiers, used by Alembic.
revision = 'shop_0003'
down_revision = ('shop_0002', 'referrals_0006_settings')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
