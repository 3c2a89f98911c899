"""A real gunicorn serving the site on a free port, over a freshly migrated DB."""

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from bench.servers import gunicorn as serve

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@contextmanager
def fresh_database(tmp_path: Path, name: str):
    """A migrated, empty database URL: a SQLite file, or a PostgreSQL schema."""
    postgres = os.environ.get("TEST_DATABASE_URL")
    if not postgres:
        url = f"sqlite:///{tmp_path / (name + '.db')}"
        migrate(url)
        yield url
        return
    base = postgres.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = sa.create_engine(base)
    with admin.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        connection.execute(sa.text(f"CREATE SCHEMA {name}"))
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options=-csearch_path%3D{name}"
    migrate(url)
    try:
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        admin.dispose()


@functools.cache
def job_queue_url() -> str:
    """The test servers' job queue: a file of this test run's own.

    Left to its default, a server queues its jobs in the checkout's
    instance/referrals-jobs.sqlite3, which `make run` and any other test run use
    too, and whose worker would then run jobs of events it cannot find.
    """
    folder = tempfile.mkdtemp(prefix="referral-site-test-jobs-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return "sqlite:///" + os.path.join(folder, "jobs.sqlite3")


def server_environment(database_url: str, **extra: str) -> dict:
    """Our settings, without the developer's own REFERRALS_ and FLASK_ variables."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REFERRALS_", "FLASK_"))
    }
    return inherited | {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "server-test-secret",
        "FLASK_ENV": "development",
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "8",
        # Every simulated visitor comes from 127.0.0.1: one office of thousands.
        "REFERRALS_RATELIMIT_SIGNUP": "100000 per hour",
        "REFERRALS_JOBS_URL": job_queue_url(),
        **extra,
    }


def migrate(url: str) -> None:
    """Apply the Alembic migrations to the database at url."""
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=server_environment(url),
        check=True,
        capture_output=True,
    )


@contextmanager
def gunicorn(database_url: str, *, workers: int = 4, log: Path, **env: str):
    """Run gunicorn (as the benchmarks do) until the block ends; yields the base URL."""
    with serve(
        "wsgi:app",
        workers=workers,
        log=log,
        env=server_environment(database_url, **env),
    ) as (base, _pid):
        yield base


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A cookie-keeping HTTP client that sends forms with their CSRF token."""

    def __init__(self, base: str):
        import http.cookiejar

        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirects()
        )
        self.token = ""

    def get(self, path: str) -> tuple[int, str]:
        status, body = self._open(urllib.request.Request(self.base + path))
        self._remember_token(body)
        return status, body

    def post(self, path: str, data: dict) -> tuple[int, str]:
        return self.send(self.form_request(path, data))

    def form_request(self, path: str, data: dict) -> urllib.request.Request:
        """A POST of the form carrying the cookies as they are now.

        A form submitted twice sends both requests before either answers: built
        first, neither carries the session the other's answer sets.
        """
        from urllib.parse import urlencode

        payload = urlencode({"csrf_token": self.token, **data}).encode()
        request = urllib.request.Request(self.base + path, data=payload)
        self.cookies.add_cookie_header(request)  # the jar then adds nothing more
        return request

    def sign_in(self, email: str, password: str) -> int:
        """Sign in through the login form (a signup leaves the browser signed out)."""
        self.get("/login")
        return self.post("/login", {"email": email, "password": password})[0]

    def send(self, request: urllib.request.Request) -> tuple[int, str]:
        return self._open(request)

    def _open(self, request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def _remember_token(self, body: str) -> None:
        import re

        found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', body)
        if found:
            self.token = found.group(1)


def log_problems(log: Path) -> list[str]:
    """Lines of a server log that show a crash or a locked database."""
    text = log.read_text(errors="replace")
    return [
        line
        for line in text.splitlines()
        if "Traceback" in line or "database is locked" in line or "[ERROR]" in line
    ]
