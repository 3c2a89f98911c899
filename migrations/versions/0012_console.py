"""Indexes for the referral console: users by lower-cased name, disabled accounts.

Revision ID: 0012_console
Revises: 0011_email_verification
Create Date: 2026-12-02 18:05:00.000000

The console searches people by the start of their name whatever its case, and
lists disabled accounts; at a million users neither may read the whole table.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012_console"
down_revision = "0011_email_verification"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_users_name_lower", "users", [sa.text("lower(name)")])
    op.create_index("ix_users_disabled_at", "users", ["disabled_at"])


def downgrade():
    op.drop_index("ix_users_disabled_at", table_name="users")
    op.drop_index("ix_users_name_lower", table_name="users")
