"""PostgreSQL connections: fail fast when the server is away, slow or hung.

Every database call is bounded on the client side, below gunicorn's worker
timeout, so a database that stops answering gives 503s, not killed workers:

- connecting: ``DATABASE_CONNECT_TIMEOUT_S``;
- waiting for a pooled connection: ``DATABASE_POOL_TIMEOUT_S``;
- a lost network path: TCP keepalives and ``tcp_user_timeout``;
- a query the server runs too long: ``DATABASE_STATEMENT_TIMEOUT_MS``;
- a server (or proxy) that accepts the bytes and never answers, which no TCP
  setting notices: the stall watchdog (:class:`StallWatchdog`) shuts the socket of
  a call waiting longer than ``DATABASE_CALL_TIMEOUT_S``, and the driver raises
  the ordinary "server closed the connection" error the 503 handler answers.
"""

import logging
import os
import socket
import threading
import time
import weakref

from flask import Flask
from sqlalchemy import event

from referral_site.extensions import db

logger = logging.getLogger(__name__)


def engine_options(config: dict) -> dict:
    """Engine options for the configured database URL."""
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if not str(config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        return options
    connect_args = dict(options.get("connect_args", {}))
    user_timeout_ms = int(config.get("DATABASE_TCP_USER_TIMEOUT_MS") or 0)
    connect_args.setdefault("connect_timeout", config["DATABASE_CONNECT_TIMEOUT_S"])
    connect_args.setdefault("keepalives", 1)
    connect_args.setdefault("keepalives_idle", 5)
    connect_args.setdefault("keepalives_interval", 2)
    connect_args.setdefault("keepalives_count", 3)
    if user_timeout_ms > 0:
        connect_args.setdefault("tcp_user_timeout", user_timeout_ms)
    options["connect_args"] = connect_args
    options.setdefault("pool_size", config["DATABASE_POOL_SIZE"])
    options.setdefault("max_overflow", config["DATABASE_MAX_OVERFLOW"])
    options.setdefault("pool_timeout", config["DATABASE_POOL_TIMEOUT_S"])
    return options


def init_app(app: Flask) -> None:
    """Statement timeout and stall watchdog on each PostgreSQL engine."""
    timeout_ms = int(app.config.get("DATABASE_STATEMENT_TIMEOUT_MS") or 0)
    call_timeout = float(app.config.get("DATABASE_CALL_TIMEOUT_S") or 0)
    with app.app_context():
        for engine in db.engines.values():
            _quiet_pool_disconnects(engine.pool)
            if engine.dialect.name != "postgresql":
                continue
            if timeout_ms > 0:
                event.listen(engine, "connect", _statement_timeout(timeout_ms))
            if call_timeout > 0:
                StallWatchdog(call_timeout).watch(engine)


def _statement_timeout(timeout_ms: int):
    def on_connect(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {int(timeout_ms)}")
        dbapi_connection.commit()

    return on_connect


class _OneLineDisconnects(logging.Filter):
    """The pool's tracebacks for connections already lost, as one debug line.

    Resetting or closing a connection that dropped fails as expected; the pool
    logs a traceback for each (and the click buffer retries every second), which
    buries what an operator needs. The lost connection itself is reported where
    it was noticed (the 503, the click buffer's warning).
    """

    LOST = frozenset({"OperationalError", "InterfaceError"})

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and type(error).__name__ in self.LOST:
            lines = str(error).strip().splitlines()
            record.msg = f"{record.getMessage()}: {lines[0] if lines else error!r}"
            record.args = ()
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def _quiet_pool_disconnects(pool) -> None:
    # The pool logs under its class's own logger; a parent's filter never runs.
    kind = type(pool)
    pool_logger = logging.getLogger(f"{kind.__module__}.{kind.__name__}")
    if not any(isinstance(f, _OneLineDisconnects) for f in pool_logger.filters):
        pool_logger.addFilter(_OneLineDisconnects())


class StallWatchdog:
    """Ends database calls that wait longer than a bound for the server's answer.

    A thread per process looks at the engine's open connections twice a second.
    One that has had a command in progress (libpq's transaction status ACTIVE) for
    longer than the bound gets its socket shut down: the waiting call then fails
    at once with a disconnect error, SQLAlchemy discards the connection, and the
    request answers 503. The server-side statement timeout, shorter, ends slow
    queries first; this catches what it cannot (a hung server or network).
    """

    #: Seconds between looks at the connections.
    TICK = 0.5

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._connections: weakref.WeakSet = weakref.WeakSet()
        #: id of a connection -> (calls counted, when first seen busy with it).
        self._busy_since: dict[int, tuple[int, float]] = {}
        self._calls: dict[int, int] = {}
        self._owner_pid: int | None = None
        self._lock = threading.Lock()

    def watch(self, engine) -> None:
        """Track every connection the engine opens from now on."""
        event.listen(engine, "connect", self._track)
        event.listen(engine, "before_cursor_execute", self._count_call)

    def _count_call(self, connection, *_args) -> None:
        # A connection that stays busy with one call after another is working,
        # not stalled: each call restarts its clock.
        key = id(connection.connection.dbapi_connection)
        self._calls[key] = self._calls.get(key, 0) + 1

    def _track(self, dbapi_connection, _record) -> None:
        with self._lock:
            self._connections.add(dbapi_connection)
            if self._owner_pid != os.getpid():
                # Threads do not survive fork(): each gunicorn worker starts one.
                self._owner_pid = os.getpid()
                threading.Thread(
                    target=self._run, name="database-stall-watchdog", daemon=True
                ).start()

    def _run(self) -> None:
        while True:
            time.sleep(self.TICK)
            try:
                self.check(time.monotonic())
            except Exception:  # noqa: BLE001 - the watchdog must not die
                logger.exception("database stall watchdog failed a check")

    def check(self, now: float) -> int:
        """Shut the sockets of calls stalled past the bound; returns how many."""
        with self._lock:
            connections = list(self._connections)
        stalled = 0
        seen = set()
        for connection in connections:
            key = id(connection)
            if not _command_in_progress(connection):
                continue
            seen.add(key)
            calls = self._calls.get(key, 0)
            counted, since = self._busy_since.get(key, (calls, now))
            if counted != calls:
                counted, since = calls, now
            self._busy_since[key] = (counted, since)
            if now - since >= self.seconds:
                stalled += _shut_socket(connection, now - since)
        self._busy_since = {k: v for k, v in self._busy_since.items() if k in seen}
        live = {id(c) for c in connections}
        self._calls = {k: v for k, v in self._calls.items() if k in live}
        return stalled


def _command_in_progress(connection) -> bool:
    pgconn = getattr(connection, "pgconn", None)
    if pgconn is None or connection.closed:
        return False
    # 1 is PQTRANS_ACTIVE: a command was sent and its answer has not come back.
    return pgconn.transaction_status == 1


def _shut_socket(connection, waited: float) -> int:
    try:
        fd = connection.pgconn.socket
        # shutdown() acts on the socket itself, which the driver shares; the
        # duplicate descriptor is closed by the with block, the driver's kept.
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except Exception:  # noqa: BLE001 - closed meanwhile
        return 0
    logger.warning("database call unanswered after %.0f s: connection dropped", waited)
    return 1
