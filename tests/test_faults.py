"""Database faults: down, read-only or locked gives a clean 503, and service returns."""

import sqlite3

import pytest
import sqlalchemy as sa

from referral_site.models import User
from tests.conftest import PASSWORD, POSTGRES_URL, scalar
from tests.tcp_relay import TcpRelay

SIGNUP = {"name": "Bob", "email": "bob@example.com", "password": PASSWORD}


def _assert_clean_503(response):
    assert response.status_code == 503
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "sqlalchemy" not in text.lower()
    assert response.headers["Retry-After"]


@pytest.mark.skipif(bool(POSTGRES_URL), reason="SQLite file modes")
def test_read_only_sqlite_answers_503_and_writes_nothing(make_app, tmp_path):
    writable = make_app()
    path = tmp_path / "test.db"
    read_only = make_app(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///file:{path}?mode=ro&uri=true"
    )
    client = read_only.test_client()
    assert client.get("/").status_code == 200
    _assert_clean_503(client.post("/signup", data=SIGNUP | {"referral_code": ""}))
    assert scalar(writable, sa.select(sa.func.count(User.id))) == 0
    assert writable.test_client().post("/signup", data=SIGNUP).status_code == 302


@pytest.mark.skipif(bool(POSTGRES_URL), reason="SQLite locking")
def test_sqlite_locked_past_the_busy_timeout_answers_503_then_recovers(
    make_app, tmp_path
):
    app = make_app(SQLITE_BUSY_TIMEOUT_MS=200)
    blocker = sqlite3.connect(tmp_path / "test.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        _assert_clean_503(app.test_client().post("/signup", data=SIGNUP))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert app.test_client().post("/signup", data=SIGNUP).status_code == 302
    assert scalar(app, sa.select(sa.func.count(User.id))) == 1


@pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL (TEST_DATABASE_URL)")
def test_postgres_going_away_answers_503_and_service_returns(make_app, make_user):
    make_app()  # the schema and the cleanup
    url = sa.engine.make_url(POSTGRES_URL)
    relay = TcpRelay(url.port or 5432)
    relayed = url.set(
        drivername="postgresql+psycopg", host="127.0.0.1", port=relay.port
    )
    app = make_app(
        SQLALCHEMY_DATABASE_URI=relayed.render_as_string(hide_password=False)
    )
    _, code = make_user()
    client = app.test_client()
    assert client.get(f"/r/{code}").status_code == 302
    relay.cut()
    _assert_clean_503(client.get(f"/r/{code}"))
    _assert_clean_503(client.post("/signup", data=SIGNUP | {"referral_code": ""}))
    relay.restore()
    assert (
        client.post("/signup", data=SIGNUP | {"referral_code": ""}).status_code == 302
    )
    assert scalar(app, sa.select(sa.func.count(User.id))) == 2


@pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL (TEST_DATABASE_URL)")
def test_slow_postgres_query_times_out_cleanly(make_app, make_user, monkeypatch):
    app = make_app(DATABASE_STATEMENT_TIMEOUT_MS=100)
    from referral_site.referrals.attribution import services

    real = services.find_referrer

    def slow(code):
        from referral_site.extensions import db

        db.session.execute(sa.text("SELECT pg_sleep(1)"))
        return real(code)

    monkeypatch.setattr(services, "find_referrer", slow)
    _assert_clean_503(app.test_client().get("/r/ABCDEFGH"))


def test_database_errors_on_the_api_path_answer_json(make_app):
    app = make_app()

    @app.route("/api/probe")
    def probe():
        raise sa.exc.OperationalError("SELECT 1", {}, ConnectionError("server closed"))

    response = app.test_client().get("/api/probe")
    assert response.status_code == 503
    assert response.get_json() == {
        "error": "service_unavailable",
        "detail": "Please retry shortly.",
    }
