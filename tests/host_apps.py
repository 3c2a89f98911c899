"""Helpers for host apps of the plugin built inside the tests: their own database."""

import contextlib
import uuid

import sqlalchemy as sa

from tests.conftest import POSTGRES_URL, _database_url

#: A person's browser: HTTP libraries' user agents are treated as bots (no capture).
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0"}


@contextlib.contextmanager
def own_database(tmp_path):
    """Settings for a database of the host's own: a SQLite file, or on PostgreSQL a
    schema of its own (dropped afterwards), so its tables meet nobody else's."""
    url = _database_url(tmp_path)
    if not POSTGRES_URL:
        yield {"SQLALCHEMY_DATABASE_URI": url}
        return
    schema = f"host_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield {
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "connect_args": {"options": f"-csearch_path={schema}"}
            },
        }
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
