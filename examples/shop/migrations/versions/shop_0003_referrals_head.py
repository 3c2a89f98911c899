"""join the referrals branch's newer revisions (the admin console's tables)

Revision ID: shop_0003
Revises: shop_0002, referrals_0005_console
Create Date: 2026-12-02 18:10:00.000000

"""

# revision identifiers, used by Alembic.
revision = "shop_0003"
down_revision = ("shop_0002", "referrals_0005_console")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
