"""The Alembic migrations build the schema the models describe, on each database."""

import os
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from referral_site import create_app
from referral_site.extensions import db
from referral_site.referrals import UTCDateTime
from referral_site.referrals.reports import figures as reports
from referral_site.referrals.reports import leaderboard
from tests import proof
from tests.conftest import POSTGRES_URL, _base
from tests.schema import schema_drift

SCHEMA = "migration_check"


@pytest.fixture
def empty_database_url(tmp_path):
    """An empty database: a new SQLite file, or a new schema on PostgreSQL."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    admin = sa.create_engine(
        POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    )
    with admin.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = POSTGRES_URL + f"{separator}options=-csearch_path%3D{SCHEMA}"
    yield url.replace("postgresql://", "postgresql+psycopg://", 1)
    with admin.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    admin.dispose()


def test_migrations_match_the_models(empty_database_url):
    app = create_app(_base() | {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
    assert schema_drift(app) == []
    with app.app_context():
        tables = sa.inspect(db.engine).get_table_names()
        db.engine.dispose()
    assert {"users", "referrals", "visits", "rewards", "alembic_version"} <= set(tables)


@pytest.mark.proof
def test_migrations_round_trip(empty_database_url):
    app = create_app(_base() | {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
    drift = schema_drift(app)
    proof.record("migration_round_trips", int(drift == []))
    assert drift == []
    with app.app_context():
        db.engine.dispose()


def test_no_create_all_outside_tests():
    root = os.path.dirname(os.path.dirname(__file__))
    for folder, _, files in os.walk(os.path.join(root, "referral_site")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name)) as source:
                    assert "create_all" not in source.read(), name


def _add_users_at(connection, *rows) -> None:
    """Users as revision 0002 stored them (before aliases, deletion or disabling)."""
    for user_id, email, code, referred_by in rows:
        connection.execute(
            sa.text(
                "INSERT INTO users (id, email, name, password_hash, is_admin, "
                "session_token, created_at, referral_code, referred_by_id) VALUES "
                "(:id, :email, 'N', 'x', false, :token, :now, :code, :by)"
            ),
            {
                "id": user_id,
                "email": email,
                "token": f"token-{user_id}",
                "now": "2026-01-01 00:00:00+00:00",
                "code": code,
                "by": referred_by,
            },
        )


@pytest.mark.proof
def test_upgrading_with_data_keeps_every_code_working(empty_database_url):
    """0003 carries data: each existing code becomes its user's primary alias."""
    app = create_app(_base() | {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0002_rewards")
        with db.engine.begin() as connection:
            _add_users_at(
                connection,
                (1, "ann@example.com", "ANNCODE1", None),
                (2, "bob@example.com", "BOBCODE2", 1),
            )
        upgrade()
        aliases = db.session.execute(
            sa.text(
                "SELECT code, user_id, is_primary FROM referral_codes ORDER BY user_id"
            )
        ).all()
        db.session.remove()
    assert [tuple(row) for row in aliases] == [
        ("ANNCODE1", 1, True),
        ("BOBCODE2", 2, True),
    ]
    follow = app.test_client().get("/r/anncode1")
    assert follow.status_code == 302 and "signup" in follow.location
    assert follow.headers.get("Set-Cookie")  # captured: the migrated code resolves
    with app.app_context():
        downgrade(revision="0002_rewards")
        emails = db.session.scalars(sa.text("SELECT email FROM users ORDER BY id"))
        kept = list(emails)
        db.session.remove()
        db.engine.dispose()
    assert kept == ["ann@example.com", "bob@example.com"]
    proof.record("migration_rows_carried", len(aliases) + len(kept))


def _add_counted_rows(connection) -> None:
    """Daily counts and rewards as revision 0005 stored them."""
    statements = [
        "INSERT INTO visit_rollups (referrer_id, day, clicks, signups, conversions) "
        "VALUES (1, '2026-01-01', 5, 2, 1), (1, '2026-01-02', 3, 0, 1), "
        "(2, '2026-01-02', 4, 0, 0), (3, '2026-01-02', 0, 0, 0)",
        "INSERT INTO rewards (user_id, kind, amount_minor, currency, status, "
        "created_at, rule, source_key, earned_at, hold_until) VALUES "
        "(1, 'credit', 1000, 'USD', 'paid', :jan1, 'r', 'a', :jan1, :jan1), "
        "(1, 'credit', 500, 'USD', 'paid', :jan1, 'r', 'b', :jan1, :jan1), "
        "(2, 'credit', 700, 'EUR', 'pending', :jan2, 'r', 'c', :jan2, :jan2)",
    ]
    moments = {"jan1": "2026-01-01 10:00:00+00:00", "jan2": "2026-01-02 23:30:00+00:00"}
    for statement in statements:
        connection.execute(sa.text(statement), moments)


@pytest.mark.proof
def test_upgrading_with_data_fills_the_report_totals(empty_database_url):
    """0006 carries data: the report's totals are counted from the existing rows."""
    app = create_app(_base() | {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0005_rollups")
        with db.engine.begin() as connection:
            _add_users_at(
                connection,
                (1, "ann@example.com", "ANNCODE1", None),
                (2, "bob@example.com", "BOBCODE2", 1),
                (3, "cat@example.com", "CATCODE3", 1),
            )
            _add_counted_rows(connection)
        upgrade()
        everything = reports.date_range("all")
        funnel = reports.funnel(everything)
        days = reports.daily_series(everything, today=date(2026, 1, 3))
        (eur, usd) = reports.rewards_by_status(everything)
        leaders = leaderboard.leaderboard_page(everything, page=1, per_page=10)
        db.session.remove()
    assert (funnel.users, funnel.clicks, funnel.signups, funnel.conversions) == (
        3,
        12,
        2,
        2,
    )
    assert list(zip(days.days, days.clicks, strict=True)) == [
        (date(2026, 1, 1), 5),
        (date(2026, 1, 2), 7),
        (date(2026, 1, 3), 0),
    ]
    assert (usd.amount("paid"), usd.count("paid")) == (1500, 2)
    assert (eur.amount("pending"), eur.count("pending")) == (700, 1)
    assert leaders.total == 2  # the referrer with only zeros is not active
    assert [
        (row.id, row.clicks, row.signups, row.reward_totals) for row in leaders.items
    ] == [
        (1, 8, 2, [("USD", 1500)]),
        (2, 4, 0, [("EUR", 700)]),
    ]
    with app.app_context():
        downgrade(revision="0005_rollups")
        tables = set(sa.inspect(db.engine).get_table_names())
        clicks = db.session.scalar(sa.text("SELECT sum(clicks) FROM visit_rollups"))
        db.session.remove()
        db.engine.dispose()
    assert not tables & {"daily_totals", "referrer_totals", "user_reward_totals"}
    assert clicks == 12
    proof.record("migration_rows_carried", 4 + 3)


JAN = datetime(2026, 1, 1, 9, 30, tzinfo=UTC)
#: The plugin's columns on users at 0007: id, referral_code, referred_by_id,
#: created_at, deleted_at, deleted_mailbox_digest.
PLUGIN_STATE = [
    (1, "ANNCODE1", None, JAN, None, None),
    (2, "BOBCODE2", 1, JAN + timedelta(days=1), None, None),
    (3, "CATCODE3", 1, JAN + timedelta(days=2), JAN + timedelta(days=40), "d" * 64),
]
#: The site's own column beside them, which stays on users.
DISABLED = {2: JAN + timedelta(days=5)}
#: users from 0008 on: the site's columns only.
SITE_COLUMNS = set(
    "id email name password_hash is_admin session_token created_at disabled_at".split()
)
#: Copied from the migration: a code made on the way down is one the app could make.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
#: What 0001 (and 0004's index) gave users for the plugin's columns, under their
#: names.
USERS_AT_0007 = {
    "referral_code nullable": False,
    "unique": [("uq_users_referral_code", ["referral_code"])],
    "foreign keys": [
        ("fk_users_referred_by_id_users", ["referred_by_id"], "users", "SET NULL")
    ],
    "indexes": [
        ("ix_users_created_at", ["created_at"]),
        ("ix_users_referred_by_id", ["referred_by_id"]),
    ],
    "referral_accounts exists": False,
}


def _insert(connection, sql: str, *rows: dict) -> None:
    """Run an INSERT per row, storing its datetimes as the app does."""
    for row in rows:
        dates = [k for k, value in row.items() if isinstance(value, datetime)]
        statement = sa.text(sql).bindparams(
            *(sa.bindparam(name, type_=UTCDateTime()) for name in dates)
        )
        connection.execute(statement, row)


def _add_users_at_0007(connection) -> None:
    """PLUGIN_STATE's users as revision 0007 stored them, with the rows that hang
    off users by foreign keys: their codes' aliases and a referral."""
    _insert(
        connection,
        "INSERT INTO users (id, email, name, password_hash, is_admin, session_token, "
        "created_at, disabled_at, referral_code, referred_by_id, deleted_at, "
        "deleted_mailbox_digest) VALUES (:id, :email, 'N', 'x', false, :token, "
        ":at, :off, :code, :by, :gone, :digest)",
        *(
            {"id": user_id, "email": f"user{user_id}@example.com"}
            | {"token": f"token-{user_id}", "off": DISABLED.get(user_id)}
            | {"code": code, "by": by, "at": at, "gone": gone, "digest": digest}
            for user_id, code, by, at, gone, digest in PLUGIN_STATE
        ),
    )
    _insert(
        connection,
        "INSERT INTO referral_codes (code, user_id, is_primary, created_at) "
        "VALUES (:code, :id, true, :at)",
        *({"code": row[1], "id": row[0], "at": row[3]} for row in PLUGIN_STATE),
    )
    _insert(
        connection,
        "INSERT INTO referrals (referrer_id, referred_id, code, source, status, "
        "review_status, created_at) VALUES "
        "(1, 2, 'ANNCODE1', 'link', 'signed_up', 'clear', :at)",
        {"at": JAN},
    )


def _fetch(sql: str) -> list[tuple]:
    """Rows of a query, its timestamp columns read back as aware datetimes."""
    dates = ("created_at", "deleted_at", "disabled_at")
    statement = sa.text(sql).columns(**{name: UTCDateTime() for name in dates})
    with db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(statement)]


def _rows_hanging_off_users() -> tuple:
    """How many of _add_users_at_0007's aliases and referrals are still there."""
    (counts,) = _fetch(
        "SELECT (SELECT count(*) FROM referral_codes WHERE user_id <= 3), "
        "(SELECT count(*) FROM referrals)"
    )
    return counts


def _users_schema() -> dict:
    """USERS_AT_0007's parts of the schema, as the database has them now."""
    inspector = sa.inspect(db.engine)
    columns = {c["name"]: c for c in inspector.get_columns("users")}
    site_unique = {"uq_users_email", "uq_users_session_token"}
    return {
        "referral_code nullable": columns["referral_code"]["nullable"],
        "unique": [
            (u["name"], u["column_names"])
            for u in inspector.get_unique_constraints("users")
            if u["name"] not in site_unique
        ],
        "foreign keys": [
            (f["name"], f["constrained_columns"], f["referred_table"])
            + (f["options"].get("ondelete"),)
            for f in inspector.get_foreign_keys("users")
        ],
        # PostgreSQL also lists the unique constraints' indexes.
        "indexes": sorted(
            (i["name"], i["column_names"])
            for i in inspector.get_indexes("users")
            if i["name"].startswith("ix_")
        ),
        "referral_accounts exists": inspector.has_table("referral_accounts"),
    }


def _foreign_keys_enforced() -> bool:
    """Whether the engine's connections enforce foreign keys (SQLite: the pragma)."""
    if db.engine.dialect.name != "sqlite":
        return True
    with db.engine.connect() as connection:
        return connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.proof
def test_upgrading_with_data_moves_the_referral_state_to_its_own_table(
    empty_database_url,
):
    """0008 carries data: each user's code, referrer and deletion move from users to
    referral_accounts and back; a user without an account gets a new code."""
    app = create_app(_base() | {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0007_rewards_user_created")
        enforced = _foreign_keys_enforced()
        with db.engine.begin() as connection:
            _add_users_at_0007(connection)
        upgrade(revision="0008_referral_accounts")
        accounts = _fetch(
            "SELECT user_id, code, referred_by_id, created_at, deleted_at, "
            "deleted_mailbox_digest FROM referral_accounts ORDER BY user_id"
        )
        users_columns = {c["name"] for c in sa.inspect(db.engine).get_columns("users")}
        kept_up = _rows_hanging_off_users()
        with db.engine.begin() as connection:
            _insert(
                connection,
                "INSERT INTO users (id, email, name, password_hash, is_admin, "
                "session_token, created_at) VALUES "
                "(4, 'dan@example.com', 'N', 'x', false, 'token-4', :at)",
                {"at": JAN},
            )
        downgrade(revision="0007_rewards_user_created")
        restored = _fetch(
            "SELECT id, referral_code, referred_by_id, created_at, deleted_at, "
            "deleted_mailbox_digest, disabled_at FROM users ORDER BY id"
        )
        aliases = _fetch(
            "SELECT code, is_primary FROM referral_codes WHERE user_id = 4"
        )
        kept_down = _rows_hanging_off_users()
        schema = _users_schema()
        # The migration turns SQLite's enforcement off while it rebuilds users.
        enforced_after = _foreign_keys_enforced()
        db.engine.dispose()
    assert accounts == PLUGIN_STATE
    assert users_columns == SITE_COLUMNS
    assert kept_up == kept_down == (3, 1)  # nothing cascaded from users' rebuilds
    assert [row[:6] for row in restored[:3]] == PLUGIN_STATE
    assert [row[6] for row in restored] == [None, DISABLED[2], None, None]
    (new_id, new_code, *new_rest) = restored[3]
    assert (new_id, new_rest) == (4, [None, JAN, None, None, None])
    assert len(new_code) == 8 and set(new_code) <= set(CODE_ALPHABET)
    assert new_code not in {row[1] for row in PLUGIN_STATE}
    assert aliases == [(new_code, True)]  # links with the new code resolve
    assert schema == USERS_AT_0007
    assert enforced_after == enforced
    proof.record("migration_rows_carried", len(accounts) + len(restored))


def test_migrated_tokens_take_payout_detail_links(empty_database_url):
    """referrals_0009 widens the CHECK constraint of the links' purposes, which the
    drift comparison cannot see: a migrated database stores such a link, and going
    back drops those links and keeps the others."""
    from referral_site.referrals.attribution import services
    from referral_site.referrals.emails import tokens
    from referral_site.referrals.emails.models import TokenPurpose

    app = create_app(_base() | {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
        user = services.sign_up(
            name="Ann", email="ann@example.com", password="x" * 12, capture=None
        )
        for purpose in (TokenPurpose.VERIFY_EMAIL, TokenPurpose.PAYOUT_DETAILS):
            tokens.issue(purpose, user.id)
        db.session.remove()
        downgrade(revision="referrals_0008_payouts")
        kept = db.session.scalars(sa.text("SELECT purpose FROM referral_email_tokens"))
        kept = list(kept)
        db.session.remove()
        upgrade()
        db.session.remove()
        db.engine.dispose()
    assert kept == ["verify_email"]
    assert schema_drift(app) == []


def test_a_database_at_the_last_release_gets_the_plugins_new_revision(
    empty_database_url,
):
    """A database deployed at 0012_console (plugin at referrals_0008_payouts)
    upgrades to the plugin's later revision: its merge is a revision of its own."""
    app = create_app(_base() | {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0012_console")
        before = sa.inspect(db.engine).has_table("payout_pending_details")
        upgrade()
        after = sa.inspect(db.engine).has_table("payout_pending_details")
        db.session.remove()
        db.engine.dispose()
    assert (before, after) == (False, True)
    assert schema_drift(app) == []


def _converted_index() -> dict | None:
    """referrals' partial index of converted referrals, as the database has it."""
    for index in sa.inspect(db.engine).get_indexes("referrals"):
        if index["name"] == "ix_referrals_created_where_converted":
            return index
    return None


def test_a_database_at_the_payout_confirm_release_gets_the_converted_index(
    empty_database_url,
):
    """A database deployed at 0013_referrals_payout_confirm (plugin at
    referrals_0009_payout_confirm) upgrades to referrals_0010's partial index of
    converted referrals: its merge is a revision of its own."""
    app = create_app(_base() | {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0013_referrals_payout_confirm")
        before = _converted_index()
        upgrade()
        after = _converted_index()
        db.session.remove()
        db.engine.dispose()
    assert before is None
    assert after["column_names"] == ["created_at"]
    (condition,) = (
        str(value) for key, value in after["dialect_options"].items() if "where" in key
    )
    assert "converted_at IS NOT NULL" in condition
    assert schema_drift(app) == []
