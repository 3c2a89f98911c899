"""Outage answers: a database that goes away, drops or hangs gives 503s, never 500s."""

import time

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from tests.conftest import POSTGRES_URL, login, signup


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


def test_a_request_that_waits_too_long_for_a_pooled_connection_answers_503(
    make_app, make_user
):
    # Every pooled connection busy (threads stuck on a frozen database, say):
    # the request gives up after the pool timeout, and that is an outage too.
    pool = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2}
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS=pool)
    make_user("ann@example.com", "Ann")
    client = app.test_client()
    assert login(client, "ann@example.com").status_code == 302
    with app.app_context():
        held = db.engine.connect()
        held.execute(sa.text("SELECT 1"))
        try:
            response = client.get("/referrals")
        finally:
            held.close()
    _assert_outage_answer(response)
    assert client.get("/referrals").status_code == 200
