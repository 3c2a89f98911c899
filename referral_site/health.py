"""Health checks for load balancers: ``/healthz`` (alive) and ``/readyz`` (ready).

Both are answered by WSGI middleware before Flask's request cycle: no session, no
user, no rate limit, no request hooks, so they stay cheap and are never limited.

- ``/healthz``: the process answers. No dependency is checked: a liveness probe
  that fails with the database would restart every healthy host at once.
- ``/readyz``: the database answers ``SELECT 1`` within ``READYZ_TIMEOUT_S``, and
  so does Redis when the limiter uses it and fails closed (with the open policy
  the hosts serve without Redis, so its state is reported but does not take them
  out of rotation). 503 with what failed, as JSON.
"""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import sqlalchemy as sa
from flask import Flask

from referral_site.extensions import db, limiter
from referral_site.rate_limits import uses_redis

PATHS = ("/healthz", "/readyz")


class HealthChecks:
    """WSGI middleware answering the two health paths."""

    def __init__(self, app: Flask, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.timeout = float(app.config["READYZ_TIMEOUT_S"])
        self.redis_required = app.config["RATELIMIT_FAILURE_POLICY"] == "closed"
        self.checks = {"database": self._database}
        if uses_redis(app):
            self.checks["redis"] = self._redis
        self._executor: ThreadPoolExecutor | None = None
        self._running: dict[str, object] = {}
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path not in PATHS or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        if path == "/healthz":
            status, body = "200 OK", {"status": "alive"}
        else:
            status, body = self.readiness()
        payload = json.dumps(body).encode()
        start_response(
            status,
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(payload))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [payload]

    def readiness(self) -> tuple[str, dict]:
        """Run the checks side by side, each bounded; (status line, body)."""
        futures = {
            name: self._submit(name, check) for name, check in self.checks.items()
        }
        results = {name: self._outcome(future) for name, future in futures.items()}
        failed = [
            name
            for name, result in results.items()
            if result != "ok" and (name != "redis" or self.redis_required)
        ]
        body = {"status": "unavailable" if failed else "ready", "checks": results}
        if failed:
            body["failed"] = failed
            return "503 Service Unavailable", body
        return "200 OK", body

    def _submit(self, name, check):
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(4, thread_name_prefix="readyz")
            running = self._running.get(name)
            # A check still waiting from an earlier probe is not started again:
            # a hung database must not pile up threads and connections.
            if running is None or running.done():
                self._running[name] = self._executor.submit(check)
            return self._running[name]

    def _outcome(self, future) -> str:
        try:
            future.result(timeout=self.timeout)
        except FutureTimeout:
            return f"no answer within {self.timeout:g} s"
        except Exception as error:  # noqa: BLE001 - reported, not raised
            lines = str(error).strip().splitlines()
            return f"failed: {lines[0] if lines else type(error).__name__}"
        return "ok"

    def _database(self) -> None:
        with self.app.app_context():
            with db.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))

    def _redis(self) -> None:
        if not limiter.storage.check():
            raise ConnectionError("Redis did not answer PING")


def init_app(app: Flask) -> None:
    """Answer /healthz and /readyz before anything else in the app."""
    app.wsgi_app = HealthChecks(app, app.wsgi_app)
