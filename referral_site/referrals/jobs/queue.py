"""An app's task queue: a Huey instance on the storage REFERRALS_JOBS_URL names.

The default stores jobs in a SQLite file in the app's instance folder (in memory
when the app is TESTING, for the test that starts a worker of its own): no
server to run, and ``flask referrals worker`` (which ``make run`` starts with
the site) runs them. Several hosts share one queue through Redis
(``redis://...``) or PostgreSQL (``postgresql://...``); see docs/operations.md.
"""

import os
from urllib.parse import urlsplit

from flask import Flask
from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey
from huey.storage import SqliteStorage

#: app.extensions keys of the app's Huey instance and of its tasks.
EXTENSION = "referrals_jobs"
TASKS = "referrals_jobs_tasks"


def init_app(app: Flask) -> Huey:
    """Build the app's queue and its tasks; wake the dispatcher on new events."""
    from referral_site.referrals.jobs import tasks
    from referral_site.referrals.outbox.events import WAKE_UP

    url = app.config["REFERRALS_JOBS_URL"] or ("memory" if app.testing else "")
    huey = make_huey(url, app.instance_path)
    app.extensions[EXTENSION] = huey
    registered = tasks.register(huey, app)
    app.extensions[TASKS] = registered
    app.extensions[WAKE_UP] = registered.wake_up
    return huey


def make_huey(url: str, instance_path: str, name: str = "referrals") -> Huey:
    """A Huey instance for a storage URL (see REFERRALS_JOBS_URL)."""
    options = {"results": False, "utc": True}
    if url == "immediate":
        return MemoryHuey(name, immediate=True, **options)
    if url == "memory":
        return MemoryHuey(name, **options)
    if not url:
        os.makedirs(instance_path, exist_ok=True)
        url = "sqlite:///" + os.path.join(instance_path, "referrals-jobs.sqlite3")
    scheme = urlsplit(url).scheme
    base = scheme.split("+")[0]  # postgresql+psycopg:// is PostgreSQL too
    if base == "sqlite":
        return SqliteHuey(
            name,
            filename=url.removeprefix("sqlite:///"),
            storage_class=_WalStorage,
            **options,
        )
    if base in {"redis", "rediss", "unix"}:
        return RedisHuey(name, url=url, **options)
    if base in {"postgres", "postgresql"}:
        from huey import PostgresHuey

        dsn = "postgresql" + url[len(scheme) :]
        return PostgresHuey(name, dsn=dsn, **options)
    raise ValueError(
        f"REFERRALS_JOBS_URL {url!r}: use sqlite:///<file>, redis://..., "
        "postgresql://..., memory or immediate (empty: a SQLite file in the "
        "instance folder)."
    )


class _WalStorage(SqliteStorage):
    """Huey's SQLite storage in WAL mode without an fsync per job queued.

    synchronous=NORMAL keeps the file whole through a crash; a power cut may lose
    the last jobs queued, which the minute's sweep makes up for (the events
    themselves are in the app's database). Huey's own choice is FULL or OFF.
    """

    def _create_connection(self):
        connection = super()._create_connection()
        connection.execute("pragma synchronous=1")
        return connection


def queue_of(app: Flask) -> Huey:
    """The app's Huey instance."""
    return app.extensions[EXTENSION]


def tasks_of(app: Flask):
    """The app's tasks (jobs.tasks.Registered)."""
    return app.extensions[TASKS]
