"""Redis away: the limiter fails open or closed as configured, never with a 500."""

import pytest

from tests.conftest import PASSWORD, login, signup


def _app(make_app, redis_server, policy):
    return make_app(
        RATELIMIT_STORAGE_URI=redis_server.url,
        RATELIMIT_FAILURE_POLICY=policy,
        REDIS_TIMEOUT_S=0.5,
    )


def _rate_limited_requests(client):
    """A login, a signup and an unknown code: each counts against a limit."""
    return [
        login(client, "nobody@example.com", "wrong password"),
        signup(client, email="bob@example.com", code=""),
        client.get("/r/NOSUCHCODE"),
    ]


def test_failing_open_serves_with_per_worker_limits(make_app, redis_server):
    app = _app(make_app, redis_server, "open")
    client = app.test_client()
    redis_server.stop()
    answers = [r.status_code for r in _rate_limited_requests(client)]
    assert answers == [200, 302, 302]
    # Still limited, in this worker's memory: 30 logins a minute.
    statuses = {
        login(client, "nobody@example.com", "wrong").status_code for _ in range(31)
    }
    assert 429 in statuses and 500 not in statuses


def test_failing_closed_answers_503_with_a_short_retry_after(make_app, redis_server):
    app = _app(make_app, redis_server, "closed")
    client = app.test_client()
    redis_server.stop()
    for response in _rate_limited_requests(client):
        assert response.status_code == 503
        assert 0 < int(response.headers["Retry-After"]) <= 60
    assert client.get("/").status_code == 200  # nothing to count: served


def test_a_worker_started_while_redis_is_down_fails_open(make_app, redis_server):
    redis_server.stop()
    app = _app(make_app, redis_server, "open")
    client = app.test_client()
    assert [r.status_code for r in _rate_limited_requests(client)] == [200, 302, 302]


def test_limits_are_shared_again_once_redis_is_back(make_app, redis_server):
    app = _app(make_app, redis_server, "closed")
    client = app.test_client()
    redis_server.stop()
    assert login(client, "a@example.com", PASSWORD).status_code == 503
    redis_server.start()
    assert login(client, "a@example.com", PASSWORD).status_code == 200


def test_an_unknown_failure_policy_is_refused(make_app):
    with pytest.raises(RuntimeError, match="RATELIMIT_FAILURE_POLICY"):
        make_app(RATELIMIT_FAILURE_POLICY="maybe")
