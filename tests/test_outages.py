"""Outage answers: a database that goes away, drops or hangs gives 503s, never 500s."""

import os
import shutil
import time

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from tests.conftest import POSTGRES_URL, login, signup
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
        with app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()
        path = self.tmp_path / "test.db"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{path}{suffix}"):
                shutil.move(f"{path}{suffix}", f"{path}{suffix}.away")

    def back(self, app):
        if self.relay is not None:
            self.relay.restore()
            return
        with app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()
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


def _assert_outage_answer(response):
    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    # The database's own wait, not a rate-limit window's (up to an hour).
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert "X-RateLimit-Limit" not in response.headers


def test_signed_in_pages_answer_503_when_the_database_is_away(database, make_user):
    app = database.app()
    make_user("ann@example.com", "Ann")
    client = app.test_client()
    assert login(client, "ann@example.com").status_code == 302
    assert client.get("/referrals").status_code == 200
    database.away(app)
    for path in ("/", "/referrals", "/admin", "/no-such-page"):
        _assert_outage_answer(client.get(path))
    database.back(app)
    assert client.get("/referrals").status_code == 200


def test_a_rate_limited_form_answers_the_databases_retry_after(database):
    app = database.app()
    client = app.test_client()
    assert client.get("/signup").status_code == 200
    database.away(app)
    response = signup(client, email="bob@example.com", code="")
    _assert_outage_answer(response)
    database.back(app)


@pytest.mark.skipif(not POSTGRES_URL, reason="a connection dropped mid-transaction")
def test_rolling_back_after_a_dropped_connection_raises_nothing(database):
    app = database.app()
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))  # a transaction is open
        database.relay.cut()
        with pytest.raises(sa.exc.OperationalError):
            db.session.execute(sa.text("SELECT 1"))
        db.session.rollback()
        database.relay.restore()
        assert db.session.scalar(sa.text("SELECT 2")) == 2


@pytest.mark.skipif(not POSTGRES_URL, reason="a connection dropped mid-request")
def test_a_connection_dropped_mid_request_answers_503(database):
    app = database.app()

    @app.route("/probe-drop")
    def probe_drop():
        db.session.execute(sa.text("SELECT 1"))
        database.relay.cut()
        db.session.execute(sa.text("SELECT 1"))
        return "unreachable"

    _assert_outage_answer(app.test_client().get("/probe-drop"))


@pytest.mark.skipif(not POSTGRES_URL, reason="a hung PostgreSQL server")
def test_a_hung_database_call_ends_in_503_within_the_call_timeout(database):
    app = database.app(DATABASE_CALL_TIMEOUT_S=1.0)

    @app.route("/probe-hang")
    def probe_hang():
        db.session.execute(sa.text("SELECT 1"))  # connected before the freeze
        database.relay.freeze()
        db.session.execute(sa.text("SELECT 1"))
        return "unreachable"

    started = time.monotonic()
    response = app.test_client().get("/probe-hang")
    waited = time.monotonic() - started
    database.relay.thaw()
    _assert_outage_answer(response)
    assert waited < 5
