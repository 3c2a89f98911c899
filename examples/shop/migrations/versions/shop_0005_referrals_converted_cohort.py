"""join the referrals plugin's referrals_0010_converted_cohort

Revision ID: shop_0005
Revises: shop_0004, referrals_0010_converted_cohort
Create Date: 2026-12-03 16:15:00.000000

"""


# revision identifiers, used by Alembic.
revision = 'shop_0005'
down_revision = ('shop_0004', 'referrals_0010_converted_cohort')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
