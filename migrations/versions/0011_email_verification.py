"""users.email_verified_at: when the address was confirmed (None: not yet).

Revision ID: 0011_email_verification
Revises: 0010_referrals_head
Create Date: 2026-12-02 18:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0011_email_verification'
down_revision = '0010_referrals_head'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('email_verified_at', sa.DateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_verified_at')
