"""Helpers of the gunicorn races: the JSON API, signed-in admins, gated CLI runs."""

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import PASSWORD
from tests.server import BIN, ROOT, Browser, server_environment

API_KEY = "race-api-key-0123456789abcdef"
#: Every race runs from 127.0.0.1 with dozens of referrals a minute: without these,
#: the rate limit and the velocity signals would (rightly) get in the way.
RACE_ENV = {
    "REFERRALS_API_KEY": API_KEY,
    "REFERRALS_RATELIMIT_API": "1000000 per minute",
    # Every round signs its people up and in from this one address.
    "REFERRALS_RATELIMIT_LOGIN": "1000000 per minute",
    "REFERRALS_RATELIMIT_SIGNUP": "1000000 per minute",
    "REFERRALS_VELOCITY_MAX_PER_REFERRER": "100000",
    "REFERRALS_VELOCITY_MAX_PER_IP": "100000",
    "REFERRALS_REWARD_RULES": json.dumps(
        [
            {
                "name": "first-conversion",
                "trigger": "first_conversion",
                "recipient": "both",
                "amount": 1000,
                "referred_amount": 500,
            },
            {"name": "milestone", "trigger": "milestone", "milestones": [2, 3]}
            | {"amount": 2500},
        ]
    ),
}
ADMINS = ("boss@example.com", "deputy@example.com")


def in_parallel(jobs) -> list:
    """Start every job at the same moment; what each returned (or raised)."""
    results = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def run(index, job):
        barrier.wait()
        try:
            results[index] = job()
        except Exception as error:  # noqa: BLE001 - reported in the results
            results[index] = error

    threads = [threading.Thread(target=run, args=item) for item in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def engine_for(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def rows(url: str, sql: str, **params) -> list[tuple]:
    """Run one read query on the server's database."""
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def post_json(base: str, path: str, body: dict) -> tuple[int, dict]:
    """POST a JSON body with the API key; the status and the decoded answer."""
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {API_KEY}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def create_admins(url: str) -> None:
    for email in ADMINS:
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "create-admin", email]
            + ["--password", PASSWORD],
            cwd=ROOT,
            env=server_environment(url, **RACE_ENV),
            check=True,
            capture_output=True,
        )


def signed_in(base: str, email: str) -> Browser:
    browser = Browser(base)
    browser.get("/login")
    status, _ = browser.post("/login", {"email": email, "password": PASSWORD})
    assert status == 302, f"{email} could not sign in"
    return browser


def process_rewards_at_once(url: str, runs: int) -> list[subprocess.CompletedProcess]:
    """Run `flask referrals process-rewards` several times, released together."""
    return cli_at_once(
        url, ["process-rewards", "--batch-size", "1"], runs, table="rewards"
    )


def cli_at_once(
    url: str, args: list[str], runs: int, *, table: str
) -> list[subprocess.CompletedProcess]:
    """Run `flask referrals <args>` several times, released together.

    Each run is started while the test holds ``table`` (a write lock on SQLite,
    LOCK TABLE on PostgreSQL), so they queue at their first query of it and all
    go the moment the lock is released.
    """
    command = [str(BIN / "flask"), "--app", "wsgi", "referrals", *args]
    env = server_environment(url, **RACE_ENV)
    with _gate(url, table) as wait_for:
        children = [
            subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(runs)
        ]
        wait_for(children)
    finished = []
    for child in children:
        out, err = child.communicate(timeout=120)
        finished.append(
            subprocess.CompletedProcess(child.args, child.returncode, out, err)
        )
    return finished


@contextmanager
def _gate(url: str, table: str):
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
                yield lambda children: _until_waiting_on_a_lock(engine, len(children))
            else:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                path = Path(engine.url.database).resolve()
                yield lambda children: _until_opened(children, path)
            connection.rollback()
    finally:
        engine.dispose()


def _until_waiting_on_a_lock(engine: sa.Engine, count: int) -> None:
    deadline = time.monotonic() + 30
    with engine.connect() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                    " current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            if waiting >= count:
                return
            watcher.rollback()
            time.sleep(0.05)


def _until_opened(children: list[subprocess.Popen], database: Path) -> None:
    # SQLite's busy wait cannot be observed; a child that has the database file
    # open is at its first query, which waits for our write lock.
    deadline = time.monotonic() + 30
    pending = {child.pid for child in children}
    while pending and time.monotonic() < deadline:
        pending = {pid for pid in pending if not _has_open(pid, database)}
        time.sleep(0.05)
    time.sleep(0.2)


def _has_open(pid: int, path: Path) -> bool:
    try:
        return any(
            os.readlink(f"/proc/{pid}/fd/{fd}") == str(path)
            for fd in os.listdir(f"/proc/{pid}/fd")
        )
    except OSError:  # exited, or no /proc: stop waiting for it
        return True


def backdate_referrals(url: str, emails: list[str], days: int) -> None:
    """Move the signups of these referred people `days` into the past, on the
    server's database (conversions are refused when dated before the signup)."""
    from referral_site.referrals.storage.models import Referral

    engine = engine_for(url)
    table = Referral.__table__
    try:
        with engine.begin() as connection:
            ids = [
                row[0]
                for row in connection.execute(
                    sa.text("SELECT id FROM users WHERE email IN :emails").bindparams(
                        sa.bindparam("emails", expanding=True)
                    ),
                    {"emails": emails},
                )
            ]
            connection.execute(
                sa.update(table)
                .where(table.c.referred_id.in_(ids))
                .values(created_at=datetime.now(UTC) - timedelta(days=days))
            )
    finally:
        engine.dispose()
