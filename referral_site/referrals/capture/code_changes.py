"""Code changes told to every worker of every host: PostgreSQL LISTEN/NOTIFY.

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
notices; meanwhile, and on SQLite (one host), entries expire after
``REFERRALS_CODE_CACHE_SECONDS``, the fallback.
"""

import logging
import threading
import weakref

import sqlalchemy as sa
from flask import Flask

logger = logging.getLogger(__name__)

CHANNEL = "referrals_codes"


def announce(session, user_id) -> None:
    """Tell every worker, when this transaction commits, that a user's codes changed."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_notify(CHANNEL, str(user_id))))


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
