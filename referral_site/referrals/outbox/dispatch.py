"""The outbox's background work: hand new events to consumers, run what is due.

Two steps, both safe to run in several workers at once (rows are taken with FOR
UPDATE SKIP LOCKED on PostgreSQL; SQLite's write lock serializes them):

1. :func:`fan_out` gives each new event one progress row per consumer that
   wants it, and marks the event handed out.
2. :func:`run_due` leases due progress rows, runs their handlers outside any
   transaction, and marks each done, or due again after a backoff.
"""

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.outbox import consumers
from referral_site.referrals.outbox.models import OutboxEvent, OutboxProgress
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import utcnow
from referral_site.referrals.storage.transactions import write_transaction

log = logging.getLogger(__name__)

#: Longest wait between two runs of a failing handler.
MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class Dispatched:
    """What one dispatch did: events handed out, handler runs done and failed."""

    fanned_out: int = 0
    done: int = 0
    failed: int = 0


def dispatch(batch_size: int = 200, max_rounds: int = 50) -> Dispatched:
    """Hand out new events and run every due handler, batch after batch."""
    fanned, done, failed = 0, 0, 0
    for _ in range(max_rounds):
        count = fan_out(batch_size)
        fanned += count
        if count < batch_size:
            break
    for _ in range(max_rounds):
        ran_ok, ran_failed = run_due(batch_size)
        done, failed = done + ran_ok, failed + ran_failed
        if ran_ok + ran_failed < batch_size:
            break
    return Dispatched(fanned, done, failed)


def fan_out(batch_size: int = 200) -> int:
    """Write the progress rows of up to ``batch_size`` new events; returns how many."""
    wanted = list(consumers.registered().values())
    now = utcnow()
    # A read first: an idle outbox takes no write lock (SQLite has only one).
    new = sa.select(OutboxEvent.id).where(OutboxEvent.fanned_out_at.is_(None))
    if not db.session.scalar(sa.select(new.exists())):
        db.session.rollback()
        return 0
    with write_transaction() as session:
        rows = session.execute(
            sa.select(OutboxEvent.id, OutboxEvent.type)
            .where(OutboxEvent.fanned_out_at.is_(None))
            .order_by(OutboxEvent.created_at, OutboxEvent.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        ).all()
        progress = [
            {"event_id": row.id, "consumer": consumer.name, "due_at": now}
            for row in rows
            for consumer in wanted
            if consumer.wants(row.type)
        ]
        if progress:
            session.execute(sa.insert(OutboxProgress), progress)
        if rows:
            session.execute(
                sa.update(OutboxEvent)
                .where(OutboxEvent.id.in_([row.id for row in rows]))
                .values(fanned_out_at=now)
            )
    return len(rows)


@dataclass(frozen=True)
class _Claim:
    progress_id: int
    attempts: int
    consumer: consumers.Consumer
    event: consumers.Event


def run_due(batch_size: int = 200, now: datetime | None = None) -> tuple[int, int]:
    """Run the handlers of up to ``batch_size`` due rows; returns (done, failed)."""
    done = failed = 0
    for claim in _claim_due(batch_size, now or utcnow()):
        try:
            claim.consumer.handler(claim.event)
        except Exception as error:  # a handler's bug must not stop the others
            log.exception(
                "outbox consumer %s failed on %s", claim.consumer.name, claim.event.id
            )
            _finish(claim, error)
            failed += 1
        else:
            _finish(claim, None)
            done += 1
    return done, failed


def _claim_due(batch_size: int, now: datetime) -> list[_Claim]:
    """Lease due rows of registered consumers: due again only if the lease runs out."""
    registered = consumers.registered()
    if not registered:
        return []
    due = sa.select(OutboxProgress.id).where(
        OutboxProgress.due_at <= now, OutboxProgress.consumer.in_(list(registered))
    )
    if not db.session.scalar(sa.select(due.exists())):
        db.session.rollback()
        return []
    lease = timedelta(seconds=current_app.config["REFERRALS_OUTBOX_LEASE_SECONDS"])
    with write_transaction() as session:
        rows = session.execute(
            sa.select(
                OutboxProgress.id,
                OutboxProgress.consumer,
                OutboxProgress.attempts,
                OutboxEvent,
            )
            .join(OutboxEvent, OutboxEvent.id == OutboxProgress.event_id)
            .where(
                OutboxProgress.due_at <= now,
                OutboxProgress.consumer.in_(list(registered)),
            )
            .order_by(OutboxProgress.due_at, OutboxProgress.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True, of=OutboxProgress)
        ).all()
        if rows:
            session.execute(
                sa.update(OutboxProgress)
                .where(OutboxProgress.id.in_([row.id for row in rows]))
                .values(due_at=now + lease, attempts=OutboxProgress.attempts + 1)
            )
        return [
            _Claim(
                row.id,
                row.attempts + 1,
                registered[row.consumer],
                consumers.Event(
                    row.OutboxEvent.id,
                    row.OutboxEvent.type,
                    row.OutboxEvent.payload,
                    row.OutboxEvent.created_at,
                ),
            )
            for row in rows
        ]


def _finish(claim: _Claim, error: Exception | None) -> None:
    """Mark a claimed row done, or due again (given up after the last attempt)."""
    now = utcnow()
    values: dict = {"due_at": None, "done_at": now, "last_error": None}
    if error is not None:
        last = claim.attempts >= current_app.config["REFERRALS_OUTBOX_MAX_ATTEMPTS"]
        values = {
            "due_at": None if last else now + backoff(claim.attempts),
            "last_error": f"{type(error).__name__}: {error}"[:500],
        }
    with write_transaction() as session:
        # Only while the lease is ours: a row re-leased by another worker after
        # ours ran out is that worker's to finish.
        session.execute(
            sa.update(OutboxProgress)
            .where(
                OutboxProgress.id == claim.progress_id,
                OutboxProgress.attempts == claim.attempts,
            )
            .values(**values)
        )


def next_due() -> datetime | None:
    """When the earliest run of a registered consumer is due (a retry, a lease)."""
    return db.session.scalar(
        sa.select(sa.func.min(OutboxProgress.due_at)).where(
            OutboxProgress.consumer.in_(list(consumers.registered()))
        )
    )


def backoff(attempts: int) -> timedelta:
    """Wait before a failed handler runs again: doubling from 10 s, jittered."""
    base = min(10 * 2 ** max(attempts - 1, 0), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=base * random.uniform(0.8, 1.2))  # noqa: S311  # nosec B311
