"""Visits appended in memory and written in batches by a background thread.

With ``REFERRALS_VISIT_BUFFER_SECONDS`` > 0 a click costs a list append; a thread
per worker process writes the batch (one bulk insert, COPY on PostgreSQL, and the
upserts of the counts) about every that many seconds. Every buffer is flushed when
the process exits normally, and gunicorn's ``worker_exit`` hook (gunicorn.conf.py)
flushes on a graceful shutdown or a worker restart. A hard kill (SIGKILL, power
loss) loses the clicks of the last interval at most.
"""

import atexit
import logging
import os
import threading
import time
import uuid
import weakref
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.exc
from flask import Flask

from referral_site.referrals.reports import rollups
from referral_site.referrals.storage import batches, bulk
from referral_site.referrals.storage.db import DATABASE_OUTAGES, db
from referral_site.referrals.storage.models import Visit
from referral_site.referrals.storage.transactions import write_transaction

logger = logging.getLogger(__name__)

#: Most visits held while the database refuses writes; older ones are dropped
#: beyond this (and logged), so an outage cannot exhaust the worker's memory.
MAX_PENDING = 200_000

#: Writes between two prunings of old batch ids (storage/bulk.py).
PRUNE_EVERY = 1000

_buffers: "weakref.WeakSet[VisitBuffer]" = weakref.WeakSet()


class VisitBuffer:
    """Pending visits of one app in this process, and the thread that writes them."""

    def __init__(self, app: Flask, interval: float) -> None:
        self._app = app
        self.interval = interval
        self._pending: list[dict] = []
        #: Batches tried and not known to be written, each with the id that makes
        #: its retry harmless: a write can commit although its answer is lost.
        self._unsure: list[tuple[str, list[dict]]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._owner_pid: int | None = None
        self._outage = _OutageLog()
        self._writes = 0
        _buffers.add(self)

    def append(self, visit: dict) -> None:
        """Queue one visit (a mapping of the visits table's columns)."""
        with self._lock:
            self._start_thread_in_this_process()
            self._pending.append(visit)

    def pending(self) -> int:
        """How many visits wait to be written."""
        with self._lock:
            return len(self._pending) + sum(len(rows) for _, rows in self._unsure)

    def flush(self) -> int:
        """Write every pending visit now; returns how many were written."""
        with self._flush_lock:
            with self._lock:
                batches, self._unsure = self._unsure, []
                if self._pending:
                    batches.append((uuid.uuid4().hex, self._pending))
                    self._pending = []
            written = 0
            for index, (batch_id, rows) in enumerate(batches):
                try:
                    written += self._write_batch(batch_id, rows)
                except DATABASE_OUTAGES as error:
                    # Expected and retried (locked, unreachable, timed out, or no
                    # pooled connection free: the thread shares the worker's pool
                    # with requests that may all be stuck on a hung database).
                    self._keep(batches[index:])
                    self._outage.failed(self.pending(), error)
                    return written
                except Exception:
                    logger.exception("could not write %d buffered visits", len(rows))
                    self._keep(batches[index:])
                    return written
            if batches:
                self._outage.recovered(written)
            return written

    def _write_batch(self, batch_id: str, rows: list[dict]) -> int:
        try:
            return len(rows) if self._write(batch_id, rows) else 0
        except sa.exc.IntegrityError:
            # A row the database refuses (its referrer is gone): write the
            # others one by one rather than retry the batch forever.
            return self._write_one_by_one(batch_id, rows)

    def _write_one_by_one(self, batch_id: str, rows: list[dict]) -> int:
        written = 0
        for number, visit in enumerate(rows):
            try:
                written += self._write(f"{batch_id}/{number}", [visit])
            except sa.exc.IntegrityError:
                logger.error("dropped a visit the database refuses: %r", visit)
        return written

    def _write(self, batch_id: str, rows: list[dict]) -> bool:
        """Write one batch once; False when an earlier try already committed it."""
        with self._app.app_context(), write_transaction() as session:
            connection = session.connection()
            if not batches.claim_batch(connection, batch_id):
                return False
            bulk.insert_rows(connection, Visit.__table__, rows)
            rollups.add_clicks(connection, rollups.count_by_day(rows))
            self._writes += 1
            if self._writes % PRUNE_EVERY == 0:
                batches.prune_batches(connection)
        return True

    def _keep(self, batches: list[tuple[str, list[dict]]]) -> None:
        with self._lock:
            self._unsure[:0] = batches
            while sum(len(rows) for _, rows in self._unsure) > MAX_PENDING:
                _, dropped = self._unsure.pop(0)
                logger.error(
                    "dropping %d buffered visits (database away)", len(dropped)
                )

    def _start_thread_in_this_process(self) -> None:
        # Threads do not survive fork(): a gunicorn worker starts its own.
        if self._owner_pid == os.getpid():
            return
        self._owner_pid = os.getpid()
        thread = threading.Thread(
            target=self._run, name="referrals-visit-buffer", daemon=True
        )
        thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            self.flush()


class _OutageLog:
    """Warnings while the database refuses the buffer's writes: one line each
    ``EVERY`` seconds with the count pending, no traceback, then one on recovery."""

    EVERY = 30.0

    def __init__(self) -> None:
        self.since: float | None = None
        self._last_warning = 0.0

    def failed(self, pending: int, error: Exception) -> None:
        now = time.monotonic()
        if self.since is None:
            self.since = now
        elif now - self._last_warning < self.EVERY:
            return
        self._last_warning = now
        original = getattr(error, "orig", None) or error
        reason = (str(original).strip().splitlines() or [type(original).__name__])[0]
        logger.warning(
            "database unavailable for buffered clicks (%s): %d kept, retrying every "
            "flush",
            reason,
            pending,
        )

    def recovered(self, written: int) -> None:
        if self.since is not None:
            logger.warning(
                "database back after %.0f s: %d buffered clicks written",
                time.monotonic() - self.since,
                written,
            )
            self.since = None


#: A buffered visit is stamped within this long of the cookie's (whole) second: the
#: cookie is signed a moment after the visit, possibly in the next second.
_CAPTURE_SLACK = timedelta(seconds=2)


def written_visit_id(
    referrer_id: int, visitor_id: str | None, *, captured_at: datetime | None
) -> int | None:
    """The visit behind a cookie set while its visit was still in a buffer.

    Such a cookie carries no visit id; once the batch is written, the visit is the
    one of this visitor and referrer stamped in the cookie's second.
    """
    if captured_at is None or not visitor_id:
        return None
    return db.session.scalar(
        sa.select(Visit.id)
        .where(
            Visit.referrer_id == referrer_id,
            Visit.created_at >= captured_at - _CAPTURE_SLACK,
            Visit.created_at < captured_at + _CAPTURE_SLACK,
            Visit.visitor_id == visitor_id,
        )
        .order_by(Visit.id.desc())
        .limit(1)
    )


def flush_all() -> int:
    """Flush every visit buffer of this process (gunicorn's worker_exit, atexit)."""
    return sum(buffer.flush() for buffer in list(_buffers))


atexit.register(flush_all)
