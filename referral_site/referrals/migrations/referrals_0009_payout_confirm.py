"""Changes of payout details confirmed by email: pending changes and their links.

Revision ID: referrals_0009_payout_confirm
Revises: referrals_0008_payouts
Create Date: 2026-12-04 08:00:00.000000

Adds ``payout_pending_details`` (a change asked for with the password, waiting for
the link emailed to the account's address; one per person, keyed by the user) and
lets ``referral_email_tokens`` hold that link (purpose ``payout_details``).
"""

import sqlalchemy as sa
from alembic import op
from flask import current_app

# revision identifiers, used by Alembic.
revision = "referrals_0009_payout_confirm"
down_revision = "referrals_0008_payouts"
branch_labels = None
depends_on = None

OLD_PURPOSES = "purpose IN ('password_reset', 'verify_email')"
NEW_PURPOSES = "purpose IN ('password_reset', 'verify_email', 'payout_details')"


def _user_column():
    (column,) = current_app.extensions["referrals"].user_model.__table__.primary_key
    return column


def _user_fk(table: str, column: str):
    user = _user_column()
    return sa.ForeignKeyConstraint(
        [column],
        [f"{user.table.name}.{user.name}"],
        name=op.f(f"fk_{table}_{column}_{user.table.name}"),
        ondelete="CASCADE",
    )


def upgrade():
    op.create_table(
        "payout_pending_details",
        sa.Column(
            "user_id", _user_column().type.copy(), autoincrement=False, nullable=False
        ),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("paypal_email", sa.String(length=254), nullable=True),
        sa.Column("sent_to", sa.String(length=254), nullable=False),
        sa.Column("ip_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "method IN ('paypal', 'store_credit')",
            name=op.f("ck_payout_pending_details_method"),
        ),
        sa.CheckConstraint(
            "(method = 'paypal' AND paypal_email IS NOT NULL)"
            " OR (method = 'store_credit' AND paypal_email IS NULL)",
            name=op.f("ck_payout_pending_details_method_details"),
        ),
        _user_fk("payout_pending_details", "user_id"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_payout_pending_details")),
    )
    _set_purposes(NEW_PURPOSES)


def downgrade():
    op.execute("DELETE FROM referral_email_tokens WHERE purpose = 'payout_details'")
    _set_purposes(OLD_PURPOSES)
    op.drop_table("payout_pending_details")


def _set_purposes(condition: str) -> None:
    # The constraint came from an Enum in referrals_0004, so its name follows the
    # host's naming convention ("ck_referral_email_tokens_purpose" on the site,
    # plain "purpose" on a host without one): it is read from the database and
    # kept. Batch: SQLite rebuilds the table (named CHECK constraints come along).
    # Its foreign key's table (the host's users) is not reflected: nothing of it
    # changes, and an index SQLAlchemy cannot reflect (an expression's) would warn.
    name = _purpose_check_name()
    with op.batch_alter_table(
        "referral_email_tokens", reflect_kwargs={"resolve_fks": False}
    ) as batch:
        batch.drop_constraint(op.f(name), type_="check")
        batch.create_check_constraint(op.f(name), condition)


def _purpose_check_name() -> str:
    inspector = sa.inspect(op.get_bind())
    for check in inspector.get_check_constraints("referral_email_tokens"):
        if check["name"] and "verify_email" in check["sqltext"]:
            return check["name"]
    raise RuntimeError("referral_email_tokens has no CHECK constraint on purpose")
