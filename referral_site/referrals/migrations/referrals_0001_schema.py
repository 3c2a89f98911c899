"""The referral plugin's tables, as of its version 0.1: the base of branch "referrals".

Revision ID: referrals_0001
Revises:
Create Date: 2026-12-02 16:30:00.000000

A host whose own migrations already made these tables (as this repository's site
did, before the branch existed) sets REFERRALS_MIGRATIONS_ADOPTED: the revision
then leaves them as they are, up and down. The user key's table, column and type
are the host's (its user model as registered with the plugin), and the revision
runs after REFERRALS_MIGRATIONS_DEPENDS_ON, the host's revision that creates it.
"""

import sqlalchemy as sa
from alembic import op
from flask import current_app


def _setting(name, default=None):
    try:
        return current_app.config.get(name, default)
    except RuntimeError:  # outside an app (alembic without Flask): the defaults
        return default


# revision identifiers, used by Alembic.
revision = "referrals_0001"
down_revision = None
branch_labels = ("referrals",)
depends_on = _setting("REFERRALS_MIGRATIONS_DEPENDS_ON") or None

#: Every table this revision creates, dependents last.
TABLES = (
    "active_referrers",
    "daily_reward_totals",
    "daily_totals",
    "ranking_snapshots",
    "ranked_referrers",
    "ranked_rewards",
    "referral_accounts",
    "referral_codes",
    "referrer_totals",
    "user_reward_totals",
    "user_sightings",
    "visit_rollups",
    "visits",
    "referrals",
    "conversions",
    "referral_flag_events",
    "referral_signals",
    "rewards",
    "reward_events",
)


def _user_column():
    (column,) = current_app.extensions["referrals"].user_model.__table__.primary_key
    return column


def _user_table():
    return _user_column().table.name


def _user_key():
    return f"{_user_table()}.{_user_column().name}"


def _user_key_type():
    return _user_column().type.copy()


def upgrade():
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    present = [name for name in TABLES if name in existing]
    if _setting("REFERRALS_MIGRATIONS_ADOPTED", False):
        missing = sorted(set(TABLES) - existing)
        if missing:
            raise RuntimeError(
                "REFERRALS_MIGRATIONS_ADOPTED is set but these referral tables are "
                f"missing: {', '.join(missing)}"
            )
        return
    if present:
        raise RuntimeError(
            f"The referral tables {', '.join(present)} exist already. If your own "
            "migrations created them, set REFERRALS_MIGRATIONS_ADOPTED = True."
        )
    _create_tables()


def downgrade():
    if _setting("REFERRALS_MIGRATIONS_ADOPTED", False):
        return
    for name in reversed(TABLES):
        op.drop_table(name)


def _create_tables():
    op.create_table(
        "active_referrers",
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("referrers", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_active_referrers")),
    )
    op.create_table(
        "daily_reward_totals",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "review",
                "approved",
                "rejected",
                "paid",
                "reversed",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("rewards", sa.Integer(), server_default="0", nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "currency", "status", "slot", name=op.f("pk_daily_reward_totals")
        ),
    )
    op.create_table(
        "daily_totals",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("users", sa.Integer(), server_default="0", nullable=False),
        sa.Column("clicks", sa.Integer(), server_default="0", nullable=False),
        sa.Column("signups", sa.Integer(), server_default="0", nullable=False),
        sa.Column("conversions", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("day", "slot", name=op.f("pk_daily_totals")),
    )
    op.create_table(
        "ranking_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("range_key", sa.String(length=8), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("referrers", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ranking_snapshots")),
    )
    op.create_index(
        "ix_ranking_snapshots_range",
        "ranking_snapshots",
        ["range_key", "id"],
        unique=False,
    )
    op.create_table(
        "ranked_referrers",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("referrer_id", _user_key_type(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("signups", sa.Integer(), nullable=False),
        sa.Column("conversions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["referrer_id"],
            [_user_key()],
            name=op.f(f"fk_ranked_referrers_referrer_id_{_user_table()}"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["ranking_snapshots.id"],
            name=op.f("fk_ranked_referrers_snapshot_id_ranking_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "snapshot_id", "rank", name=op.f("pk_ranked_referrers")
        ),
    )
    op.create_index(
        op.f("ix_ranked_referrers_referrer_id"),
        "ranked_referrers",
        ["referrer_id"],
        unique=False,
    )
    op.create_table(
        "ranked_rewards",
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("referrer_id", _user_key_type(), autoincrement=False, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rewards", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["referrer_id"],
            [_user_key()],
            name=op.f(f"fk_ranked_rewards_referrer_id_{_user_table()}"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["ranking_snapshots.id"],
            name=op.f("fk_ranked_rewards_snapshot_id_ranking_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "snapshot_id", "referrer_id", "currency", name=op.f("pk_ranked_rewards")
        ),
    )
    op.create_index(
        op.f("ix_ranked_rewards_referrer_id"),
        "ranked_rewards",
        ["referrer_id"],
        unique=False,
    )
    op.create_table(
        "referral_accounts",
        sa.Column("user_id", _user_key_type(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("referred_by_id", _user_key_type(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_mailbox_digest", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["referred_by_id"],
            [_user_key()],
            name=op.f(f"fk_referral_accounts_referred_by_id_{_user_table()}"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            [_user_key()],
            name=op.f(f"fk_referral_accounts_user_id_{_user_table()}"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_referral_accounts")),
        sa.UniqueConstraint("code"),
    )
    op.create_index(
        op.f("ix_referral_accounts_created_at"),
        "referral_accounts",
        ["created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_referral_accounts_referred_by_id"),
        "referral_accounts",
        ["referred_by_id"],
        unique=False,
    )
    op.create_table(
        "referral_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("user_id", _user_key_type(), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            [_user_key()],
            name=op.f(f"fk_referral_codes_user_id_{_user_table()}"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_codes")),
        sa.UniqueConstraint("code"),
    )
    op.create_index(
        op.f("ix_referral_codes_user_id"), "referral_codes", ["user_id"], unique=False
    )
    op.create_table(
        "referrer_totals",
        sa.Column("referrer_id", _user_key_type(), autoincrement=False, nullable=False),
        sa.Column("clicks", sa.Integer(), server_default="0", nullable=False),
        sa.Column("signups", sa.Integer(), server_default="0", nullable=False),
        sa.Column("conversions", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["referrer_id"],
            [_user_key()],
            name=op.f(f"fk_referrer_totals_referrer_id_{_user_table()}"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("referrer_id", name=op.f("pk_referrer_totals")),
    )
    op.create_index(
        "ix_referrer_totals_rank",
        "referrer_totals",
        [
            sa.literal_column("signups DESC"),
            sa.literal_column("conversions DESC"),
            sa.literal_column("clicks DESC"),
            "referrer_id",
        ],
        unique=False,
    )
    op.create_table(
        "user_reward_totals",
        sa.Column("user_id", _user_key_type(), autoincrement=False, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "review",
                "approved",
                "rejected",
                "paid",
                "reversed",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("rewards", sa.Integer(), server_default="0", nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            [_user_key()],
            name=op.f(f"fk_user_reward_totals_user_id_{_user_table()}"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "currency", "status", name=op.f("pk_user_reward_totals")
        ),
    )
    op.create_table(
        "user_sightings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", _user_key_type(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "device",
                "ip",
                name="kind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            [_user_key()],
            name=op.f(f"fk_user_sightings_user_id_{_user_table()}"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sightings")),
        sa.UniqueConstraint(
            "user_id", "kind", "value", name=op.f("uq_user_sightings_user_id")
        ),
    )
    op.create_index(
        "ix_user_sightings_kind_value",
        "user_sightings",
        ["kind", "value"],
        unique=False,
    )
    op.create_table(
        "visit_rollups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referrer_id", _user_key_type(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("signups", sa.Integer(), server_default="0", nullable=False),
        sa.Column("conversions", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["referrer_id"],
            [_user_key()],
            name=op.f(f"fk_visit_rollups_referrer_id_{_user_table()}"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_rollups")),
        sa.UniqueConstraint(
            "referrer_id", "day", name=op.f("uq_visit_rollups_referrer_id")
        ),
    )
    op.create_index("ix_visit_rollups_day", "visit_rollups", ["day"], unique=False)
    op.create_table(
        "visits",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("referrer_id", _user_key_type(), nullable=False),
        sa.Column("visitor_id", sa.String(length=32), nullable=False),
        sa.Column("landing_path", sa.String(length=512), nullable=False),
        sa.Column(
            "source",
            sa.Enum(
                "link",
                "query",
                "typed",
                name="source",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("ip_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["referrer_id"],
            [_user_key()],
            name=op.f(f"fk_visits_referrer_id_{_user_table()}"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    op.create_index(
        op.f("ix_visits_created_at"), "visits", ["created_at"], unique=False
    )
    op.create_index(
        "ix_visits_referrer_created",
        "visits",
        ["referrer_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referrer_id", _user_key_type(), nullable=False),
        sa.Column("referred_id", _user_key_type(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column(
            "source",
            sa.Enum(
                "link",
                "query",
                "typed",
                name="source",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "visit_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "signed_up",
                "converted",
                "rejected",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "review_status",
            sa.Enum(
                "clear",
                "flagged",
                "cleared",
                "confirmed",
                name="review_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("signup_ip_hash", sa.String(length=64), nullable=True),
        sa.Column("signup_visitor_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "referrer_id <> referred_id", name=op.f("ck_referrals_not_self")
        ),
        sa.ForeignKeyConstraint(
            ["referred_id"],
            [_user_key()],
            name=op.f(f"fk_referrals_referred_id_{_user_table()}"),
        ),
        sa.ForeignKeyConstraint(
            ["referrer_id"],
            [_user_key()],
            name=op.f(f"fk_referrals_referrer_id_{_user_table()}"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name=op.f("fk_referrals_visit_id_visits"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("referred_id"),
    )
    op.create_index(
        "ix_referrals_converted_at", "referrals", ["converted_at"], unique=False
    )
    op.create_index(
        "ix_referrals_created_at", "referrals", ["created_at"], unique=False
    )
    op.create_index(
        "ix_referrals_referrer_created",
        "referrals",
        ["referrer_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_referrals_signup_ip_created",
        "referrals",
        ["signup_ip_hash", "created_at"],
        unique=False,
    )
    op.create_table(
        "conversions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", _user_key_type(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "amount_minor >= 0", name=op.f("ck_conversions_amount_not_negative")
        ),
        sa.CheckConstraint(
            "length(currency) = 3", name=op.f("ck_conversions_currency_code")
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_conversions_referral_id_referrals"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            [_user_key()],
            name=op.f(f"fk_conversions_user_id_{_user_table()}"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversions")),
        sa.UniqueConstraint("external_id"),
    )
    op.create_index(
        op.f("ix_conversions_referral_id"), "conversions", ["referral_id"], unique=False
    )
    op.create_index(
        op.f("ix_conversions_user_id"), "conversions", ["user_id"], unique=False
    )
    op.create_table(
        "referral_flag_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "flagged",
                "cleared",
                "confirmed",
                name="action",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("actor_id", _user_key_type(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            [_user_key()],
            name=op.f(f"fk_referral_flag_events_actor_id_{_user_table()}"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_flag_events_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_flag_events")),
    )
    op.create_index(
        op.f("ix_referral_flag_events_referral_id"),
        "referral_flag_events",
        ["referral_id"],
        unique=False,
    )
    op.create_table(
        "referral_signals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column(
            "name",
            sa.Enum(
                "own_email",
                "same_device",
                "same_ip",
                "disposable_email",
                "ip_velocity",
                "referrer_velocity",
                "refunded_soon",
                name="signal",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "stage",
            sa.Enum(
                "signup",
                "conversion",
                "manual",
                name="stage",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("detail", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_signals_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_signals")),
        sa.UniqueConstraint(
            "referral_id", "name", name=op.f("uq_referral_signals_referral_id")
        ),
    )
    op.create_index(
        op.f("ix_referral_signals_referral_id"),
        "referral_signals",
        ["referral_id"],
        unique=False,
    )
    op.create_table(
        "rewards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", _user_key_type(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "credit",
                "cash",
                "coupon",
                name="kind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "review",
                "approved",
                "rejected",
                "paid",
                "reversed",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("conversion_id", sa.Integer(), nullable=True),
        sa.Column("adjusts_reward_id", sa.Integer(), nullable=True),
        sa.Column("earned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hold_until", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(adjusts_reward_id IS NULL AND amount_minor > 0) OR (adjusts_reward_id IS NOT NULL AND amount_minor < 0)",
            name=op.f("ck_rewards_amount_sign"),
        ),
        sa.CheckConstraint(
            "length(currency) = 3", name=op.f("ck_rewards_currency_code")
        ),
        sa.ForeignKeyConstraint(
            ["adjusts_reward_id"],
            ["rewards.id"],
            name=op.f("fk_rewards_adjusts_reward_id_rewards"),
        ),
        sa.ForeignKeyConstraint(
            ["conversion_id"],
            ["conversions.id"],
            name=op.f("fk_rewards_conversion_id_conversions"),
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_rewards_referral_id_referrals"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], [_user_key()], name=op.f(f"fk_rewards_user_id_{_user_table()}")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rewards")),
        sa.UniqueConstraint("rule", "source_key", "user_id", name="uq_rewards_grant"),
    )
    op.create_index(
        op.f("ix_rewards_conversion_id"), "rewards", ["conversion_id"], unique=False
    )
    op.create_index("ix_rewards_created_at", "rewards", ["created_at"], unique=False)
    op.create_index(
        op.f("ix_rewards_referral_id"), "rewards", ["referral_id"], unique=False
    )
    op.create_index(
        "ix_rewards_status_hold", "rewards", ["status", "hold_until"], unique=False
    )
    op.create_index(
        "ix_rewards_user_created",
        "rewards",
        ["user_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_rewards_user_status", "rewards", ["user_id", "status"], unique=False
    )
    op.create_table(
        "reward_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reward_id", sa.Integer(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "pending",
                "review",
                "approved",
                "rejected",
                "paid",
                "reversed",
                name="from_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "pending",
                "review",
                "approved",
                "rejected",
                "paid",
                "reversed",
                name="to_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("actor_id", _user_key_type(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            [_user_key()],
            name=op.f(f"fk_reward_events_actor_id_{_user_table()}"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"],
            ["rewards.id"],
            name=op.f("fk_reward_events_reward_id_rewards"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_events")),
    )
    op.create_index(
        op.f("ix_reward_events_reward_id"), "reward_events", ["reward_id"], unique=False
    )
