"""The test database behind a switch a test turns off and on again."""

import os
import shutil

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from tests.conftest import POSTGRES_URL
from tests.tcp_relay import TcpRelay


class Database:
    """The test database behind a switch: ``away()`` and ``back()``, both databases.

    PostgreSQL is reached through a relay that is cut; SQLite's file is moved
    away, so a new connection finds an empty database without the tables.
    """

    def __init__(self, make_app, tmp_path):
        self.make_app = make_app
        self.tmp_path = tmp_path
        self.relay = None

    def app(self, **settings):
        if not POSTGRES_URL:
            return self.make_app(**settings)
        self.make_app()  # the schema and the cleanup, on the real address
        url = sa.engine.make_url(POSTGRES_URL)
        self.relay = TcpRelay(url.port or 5432)
        relayed = url.set(
            drivername="postgresql+psycopg", host="127.0.0.1", port=self.relay.port
        )
        uri = relayed.render_as_string(hide_password=False)
        return self.make_app(SQLALCHEMY_DATABASE_URI=uri, **settings)

    def away(self, app):
        if self.relay is not None:
            self.relay.cut()
            return
        _close_connections(app)
        path = self.tmp_path / "test.db"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{path}{suffix}"):
                shutil.move(f"{path}{suffix}", f"{path}{suffix}.away")

    def back(self, app):
        if self.relay is not None:
            self.relay.restore()
            return
        _close_connections(app)
        path = self.tmp_path / "test.db"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{path}{suffix}"):
                os.remove(f"{path}{suffix}")
            if os.path.exists(f"{path}{suffix}.away"):
                shutil.move(f"{path}{suffix}.away", f"{path}{suffix}")


@pytest.fixture
def database(make_app, tmp_path):
    switch = Database(make_app, tmp_path)
    yield switch
    if switch.relay is not None:
        switch.relay.close()


def _close_connections(app) -> None:
    """Let go of every pooled connection to the SQLite file before it is moved."""
    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
