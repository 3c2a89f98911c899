"""join the referrals plugin's branch at its current head

Revision ID: shop_0003
Revises: shop_0002, referrals_0008_payouts
Create Date: 2026-12-02 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'shop_0003'
down_revision = ('shop_0002', 'referrals_0008_payouts')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
