"""The Alembic migrations build the schema the models describe, on each database."""

import os

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from referral_site import create_app
from referral_site.extensions import db
from tests import proof
from tests.conftest import POSTGRES_URL, _base

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


def _drift(app) -> list:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_migrations_match_the_models(empty_database_url):
    app = create_app(_base() | {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
    assert _drift(app) == []
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
    drift = _drift(app)
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
