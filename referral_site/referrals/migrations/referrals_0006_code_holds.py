"""Held codes, suspended accounts and written click batches: several hosts at once.

Revision ID: referrals_0006_code_holds
Revises: referrals_0005_billing
Create Date: 2026-12-02 18:00:00.000000

referral_code_holds keeps a forgotten user's codes from anyone else for the
attribution window; referral_accounts.suspended_at marks an account whose codes
lead nowhere while the host has it suspended (suspend_user / restore_user);
visit_batches holds the ids of written batches of buffered clicks, so a batch
whose commit was not acknowledged is not written twice when tried again.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "referrals_0006_code_holds"
down_revision = "referrals_0005_billing"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "referral_code_holds",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_referral_code_holds")),
    )
    op.create_table(
        "visit_batches",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_batches")),
    )
    op.create_index(
        op.f("ix_visit_batches_written_at"), "visit_batches", ["written_at"]
    )
    with op.batch_alter_table("referral_accounts") as batch_op:
        batch_op.add_column(
            sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table("referral_accounts") as batch_op:
        batch_op.drop_column("suspended_at")
    op.drop_index(op.f("ix_visit_batches_written_at"), table_name="visit_batches")
    op.drop_table("visit_batches")
    op.drop_table("referral_code_holds")
