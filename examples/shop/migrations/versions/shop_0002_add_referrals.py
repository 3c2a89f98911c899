"""add referrals

Revision ID: shop_0002
Revises: shop_0001, referrals_0001
Create Date: 2026-12-02 16:17:12.525449

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'shop_0002'
down_revision = ('shop_0001', 'referrals_0001')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
