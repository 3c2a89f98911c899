"""join the referrals plugin's emails revision

Revision ID: shop_0004
Revises: shop_0003, referrals_0004_emails
Create Date: 2026-12-02 18:10:00.000000

"""


# revision identifiers, used by Alembic.
revision = 'shop_0004'
down_revision = ('shop_0003', 'referrals_0004_emails')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
