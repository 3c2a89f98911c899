"""Accounts: users.disabled_at (an admin disabled it) and users.deleted_mailbox_digest
(a deleted account's mailbox as a keyed hash, for the referral-loop rule), both NULL
for every existing account; an index on users.created_at for the report's new-user
count.

Revision ID: 0004_accounts
Revises: 0003_fraud
Create Date: 2026-11-24 19:46:03.259063

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_accounts'
down_revision = '0003_fraud'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('deleted_mailbox_digest', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_created_at'))
        batch_op.drop_column('deleted_mailbox_digest')
        batch_op.drop_column('disabled_at')
