"""join the referrals plugin's referrals_0009_payout_confirm

Revision ID: shop_0004
Revises: shop_0003, referrals_0009_payout_confirm
Create Date: 2026-12-03 14:00:00.000000

"""


# revision identifiers, used by Alembic.
revision = 'shop_0004'
down_revision = ('shop_0003', 'referrals_0009_payout_confirm')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
