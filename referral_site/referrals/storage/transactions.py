"""Write transactions that hold the lock from their first statement, and SQLite tuning.

SQLite allows one writer at a time. A deferred transaction that reads and then writes
cannot wait for the lock (its snapshot may be stale), so it fails at once with
"database is locked" under concurrency. Writes therefore start with BEGIN IMMEDIATE,
which waits (up to busy_timeout) for the lock before reading anything. Reads stay
deferred so they never queue behind writers (WAL lets them run alongside).
"""

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from referral_site.referrals.storage.db import db

_write_intent: ContextVar[bool] = ContextVar("referrals_write_intent", default=False)
_tuned_engines: "weakref.WeakSet[Engine]" = weakref.WeakSet()


def tune_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """Put a SQLite engine in WAL mode with a busy timeout and explicit BEGINs."""
    if engine.dialect.name != "sqlite" or engine in _tuned_engines:
        return
    _tuned_engines.add(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event issue BEGIN, not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql(
            "BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN"
        )


def committed_for_good(session: Session) -> bool:
    """Whether an ``after_commit`` event is the transaction's commit, not a savepoint's.

    SQLAlchemy sends ``after_commit`` when a ``begin_nested()`` block is released
    too, while the outer transaction (and its lock) is still open and may yet roll
    back. Work that must follow the commit (waking the dispatch job, telling other
    workers, sending signals) waits for the outermost one.
    """
    return not session.in_nested_transaction()


@contextmanager
def write_transaction(*, keep_loaded: bool = False) -> Iterator[Session]:
    """Run the block as one transaction that commits at the end or rolls back.

    A read-only transaction left open by the request (loading current_user, say) is
    ended first, so that the writes start a fresh transaction holding the lock.
    With keep_loaded, the objects stay loaded after the commit instead of expiring,
    for a caller that goes on with rows it has just written (their values are the
    committed ones): reading them again would cost a new transaction.
    """
    session = db.session()  # the request's Session behind the scoped proxy
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("unflushed changes outside a write transaction")
    if session.in_transaction():
        session.rollback()
    token = _write_intent.set(True)
    expire_on_commit = session.expire_on_commit
    session.expire_on_commit = not keep_loaded
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.expire_on_commit = expire_on_commit
        _write_intent.reset(token)
