"""Health checks: /healthz is alive, /readyz names what is not ready; both cheap."""

import pytest

from tests.conftest import POSTGRES_URL


def test_healthz_answers_without_asking_anything(database):
    app = database.app()
    database.away(app)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "alive"}
    database.back(app)


def test_readyz_is_ready_when_the_database_answers(app, client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.skipif(not POSTGRES_URL, reason="an unreachable PostgreSQL server")
def test_readyz_names_the_database_when_it_is_away(database):
    app = database.app()
    database.away(app)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failed"] == ["database"]
    assert body["checks"]["database"].startswith("failed")
    database.back(app)
    assert app.test_client().get("/readyz").status_code == 200


@pytest.mark.parametrize(("policy", "status"), [("closed", 503), ("open", 200)])
def test_readyz_reports_redis_and_fails_only_when_it_fails_closed(
    make_app,
    redis_server,
    policy,
    status,
):
    app = make_app(
        RATELIMIT_STORAGE_URI=redis_server.url,
        RATELIMIT_FAILURE_POLICY=policy,
        REDIS_TIMEOUT_S=0.5,
    )
    client = app.test_client()
    assert client.get("/readyz").get_json()["checks"]["redis"] == "ok"
    redis_server.stop()
    response = client.get("/readyz")
    assert response.status_code == status
    assert response.get_json()["checks"]["redis"] != "ok"


def test_health_checks_never_ask_the_rate_limiter(make_app, redis_server):
    app = make_app(
        RATELIMIT_STORAGE_URI=redis_server.url,
        RATELIMIT_FAILURE_POLICY="closed",
        REDIS_TIMEOUT_S=0.5,
    )
    redis_server.stop()  # a limited request would now answer 503
    client = app.test_client()
    assert client.post("/login", data={}).status_code == 503
    assert {client.get("/healthz").status_code for _ in range(50)} == {200}
