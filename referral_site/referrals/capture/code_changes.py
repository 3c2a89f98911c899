"""Code changes told to every worker of every host: PostgreSQL LISTEN/NOTIFY, or
on SQLite a stamp file beside the database.

Each worker caches code -> referrer lookups for the click path (code_cache.py).
When a user's codes change (a vanity code, a forgotten or suspended account), the
transaction making the change also runs ``NOTIFY referrals_codes, '<user id>'``;
a thread in every worker process LISTENs and drops that user's cached codes.

Why PostgreSQL rather than Redis pub/sub: NOTIFY is transactional. It is
delivered when the change commits, and only if it commits, so no worker can
re-read the old row between a publish and the commit, and no change is lost
between a commit and a publish that a crash prevented. It needs no second system
(Redis is optional and may fail open). A worker whose listening connection
drops empties its cache when it listens again, since it may have missed
notices; meanwhile entries expire after ``REFERRALS_CODE_CACHE_SECONDS``, the
fallback.

SQLite has no notices, but its workers share one machine and one database file:
a commit that changed codes touches ``<database>-codes`` beside it, and every
worker's cache looks at that file's time every ``STAMP_CHECK_SECONDS`` and empties
itself when it moved (code changes are rare; a stat is cheap next to a click).
"""

import logging
import os
import threading
import time
import weakref

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from referral_site.referrals.storage.transactions import committed_for_good

logger = logging.getLogger(__name__)

CHANNEL = "referrals_codes"


#: Key in a session's info: the stamp file to touch when its transaction commits.
_STAMP = "referrals_code_stamp"
#: Seconds between a SQLite worker's looks at the stamp file's time.
STAMP_CHECK_SECONDS = 0.25


def announce(session, user_id) -> None:
    """Tell every worker, when this transaction commits, that a user's codes changed."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_notify(CHANNEL, str(user_id))))
    elif (path := stamp_path(bind.url)) is not None:
        session.connection()  # in a transaction, so its rollback drops the mark
        session.info[_STAMP] = path


def stamp_path(url: sa.URL) -> str | None:
    """The stamp file of a SQLite database file (None: in memory, or not SQLite)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return f"{url.database}-codes"


@event.listens_for(Session, "after_commit")
def _touch_stamp(session: Session) -> None:
    """After a commit that changed codes on SQLite, move the stamp file's time."""
    if not committed_for_good(session):
        return  # a savepoint: other workers would reload what is not committed
    path = session.info.pop(_STAMP, None)
    if path is None:
        return
    try:
        with open(path, "a"):
            pass
        os.utime(path, ns=(time.time_ns(), time.time_ns()))
    except OSError as error:
        logger.warning(
            "could not touch %s (%s): other workers' cached codes expire by their TTL",
            path,
            error,
        )


@event.listens_for(Session, "after_soft_rollback")
def _drop_stamp(session: Session, previous_transaction) -> None:
    """A rolled back change of codes tells no one (soft: a rollback of a session
    that had not begun a transaction yet counts too). A savepoint's rollback keeps
    the mark: the outer transaction may still commit a change of codes."""
    if previous_transaction.nested:
        return
    session.info.pop(_STAMP, None)


class StampWatch:
    """A worker's view of the stamp file: has it moved since the last look?"""

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen = self._stamp()
        self._next_look = time.monotonic() + STAMP_CHECK_SECONDS

    def moved(self) -> bool:
        """Whether the file's time changed (looks at most every STAMP_CHECK_SECONDS)."""
        now = time.monotonic()
        if now < self._next_look:
            return False
        self._next_look = now + STAMP_CHECK_SECONDS
        stamp = self._stamp()
        if stamp == self._seen:
            return False
        self._seen = stamp
        return True

    def _stamp(self) -> int | None:
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return None


class CodeChangeListener:
    """The thread of one worker process that empties its cache of changed codes."""

    #: Seconds between checks that the listening connection is alive (and that
    #: the listener was not stopped).
    POLL = 2.0
    #: Longest wait between attempts to listen again.
    MAX_BACKOFF = 30.0

    def __init__(self, app: Flask, cache) -> None:
        self.app = app
        self.cache = cache
        #: Set while LISTEN is in place (tests wait for it).
        self.listening = threading.Event()
        self._stopped = threading.Event()

    def start(self) -> None:
        """Listen in a daemon thread (once per process: call after fork)."""
        with self.app.app_context():
            engine = self.app.extensions["referrals"].db.engine
        if (path := stamp_path(engine.url)) is not None:
            self.cache.watch = StampWatch(path)
            self.listening.set()
            return
        if engine.dialect.name != "postgresql" or engine.driver != "psycopg":
            return  # the TTL is the only expiry (see the module's docstring)
        # The thread holds the listener weakly: an app nobody uses any more (a
        # test's) is collected, and its thread then closes its connection.
        threading.Thread(
            target=_run,
            args=(weakref.ref(self), engine),
            name="referrals-code-changes",
            daemon=True,
        ).start()

    def stop(self) -> None:
        """End the thread within POLL seconds (an app that is done with)."""
        self._stopped.set()

    def wanted(self) -> bool:
        return not self._stopped.is_set()


def _run(listener_ref, engine) -> None:
    backoff = 1.0
    while (listener := listener_ref()) is not None and listener.wanted():
        stopped, listening = listener._stopped, listener.listening
        del listener
        try:
            _listen(listener_ref, engine)
        except Exception as error:  # noqa: BLE001 - logged, then retried
            lines = str(error).strip().splitlines()
            logger.warning(
                "not listening for code changes (%s); cached codes expire "
                "by their TTL until it listens again in %.0f s",
                lines[0] if lines else type(error).__name__,
                backoff,
            )
        if listening.is_set():
            backoff = 1.0  # it listened for a while: try again soon
        listening.clear()
        stopped.wait(backoff)
        backoff = min(backoff * 2, CodeChangeListener.MAX_BACKOFF)


def _listen(listener_ref, engine) -> None:
    raw = engine.raw_connection()
    connection = raw.driver_connection
    raw.detach()  # a connection of its own, out of the pool for good
    try:
        connection.rollback()
        connection.autocommit = True
        connection.execute(f"LISTEN {CHANNEL}")
        while (listener := listener_ref()) is not None and listener.wanted():
            if not listener.listening.is_set():
                # Changes made while nobody listened were missed: start afresh.
                listener.cache.clear()
                listener.listening.set()
            del listener
            for notice in connection.notifies(timeout=CodeChangeListener.POLL):
                if (listener := listener_ref()) is not None:
                    listener.cache.forget_user(notice.payload)  # as it arrives
                    del listener
            connection.execute("SELECT 1")  # raises if the server is gone
    finally:
        raw.close()
