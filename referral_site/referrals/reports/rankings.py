"""Leaderboard snapshots of the range presets, written by a periodic job.

Ranking every referrer over the last 7, 30 or 90 days means summing one row per
referrer and day of the range: with a long tail of referrers that is millions of
rows, too many for a page view. ``flask referrals refresh-leaderboards`` does it
from cron instead and stores each preset's ranks, and the ranked referrers'
rewards in the range, so the report reads one page of them (reports/leaderboard.py) and
says as of when.

A snapshot is written in batches, each its own short transaction (on SQLite the
write lock is never held while the counts are summed), and only counts once it is
complete; the snapshots of the preset before the previous one are deleted after
that. Two runs at once each write a complete snapshot; the report reads the
newest.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import sqlalchemy as sa

from referral_site.referrals.reports.figures import PRESETS, DateRange, date_range
from referral_site.referrals.reports.leaderboard import live_counts, live_rewards
from referral_site.referrals.reports.models import (
    RankedReferrer,
    RankedReward,
    RankingSnapshot,
)
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import utcnow
from referral_site.referrals.storage.transactions import write_transaction

#: Rows written (or referrers' rows deleted) per transaction.
BATCH_SIZE = 5000
#: An unfinished snapshot older than this was abandoned (its run died): delete it.
ABANDONED_AFTER = timedelta(hours=6)


@dataclass(frozen=True)
class Refreshed:
    """One preset's new snapshot: which range, as of when, how many referrers."""

    range_key: str
    taken_at: datetime
    referrers: int


def refresh_all(now: datetime | None = None) -> list[Refreshed]:
    """Rank the referrers of every preset with a number of days (not all time)."""
    now = now or utcnow()
    return [
        refresh(date_range(key, now), now)
        for key, (_label, days) in PRESETS.items()
        if days is not None
    ]


def refresh(period: DateRange, now: datetime) -> Refreshed:
    """Write a complete snapshot of one preset's ranking, then drop older ones."""
    snapshot_id = _begin(period, now)
    ranked = _copy(live_counts(period), partial(_ranks, snapshot_id))
    ids = sa.select(RankedReferrer.referrer_id).where(
        RankedReferrer.snapshot_id == snapshot_id
    )
    _copy(live_rewards(period, ids), partial(_rewards, snapshot_id))
    with write_transaction() as session:
        session.execute(
            sa.update(RankingSnapshot)
            .where(RankingSnapshot.id == snapshot_id)
            .values(referrers=ranked)
        )
    _drop_older(period.key, snapshot_id, now)
    return Refreshed(period.key, now, ranked)


def _begin(period: DateRange, now: datetime) -> int:
    with write_transaction() as session:
        snapshot = RankingSnapshot(
            range_key=period.key, starts_on=period.start.date(), taken_at=now
        )
        session.add(snapshot)
        session.flush()
        return snapshot.id


def _copy(query: sa.Select, rows_of: Callable[[int, list], list]) -> int:
    """Stream a query's rows into a table, a batch per write transaction.

    `rows_of(copied, batch)` turns a batch into (table, rows), given how many rows
    were copied before it. Returns how many rows were copied.
    """
    copied = 0
    for batch in _batches(query):
        table, rows = rows_of(copied, batch)
        with write_transaction() as session:
            session.execute(sa.insert(table), rows)
        copied += len(batch)
    return copied


def _batches(query: sa.Select) -> Iterator[list]:
    """The query's rows, BATCH_SIZE at a time: streamed from a reader beside the
    writes, or read whole first where an open read keeps every write from
    committing (SQLite without WAL: a host that leaves REFERRALS_TUNE_SQLITE off)."""
    with db.engine.connect() as reader:
        whole = _reads_block_writes(reader)
        result = reader.execution_options(yield_per=BATCH_SIZE).execute(query)
        if not whole:
            yield from result.partitions()
            return
        batches = list(result.partitions())
    yield from batches


def _reads_block_writes(connection: sa.Connection) -> bool:
    if connection.dialect.name != "sqlite":
        return False
    return connection.exec_driver_sql("PRAGMA journal_mode").scalar() != "wal"


def _ranks(snapshot_id: int, copied: int, batch: list) -> tuple:
    """Ranked referrers (rows best first), numbered after those before them."""
    rows = [
        {
            "snapshot_id": snapshot_id,
            "rank": copied + offset,
            "referrer_id": row.id,
            "clicks": row.clicks,
            "signups": row.signups,
            "conversions": row.conversions,
        }
        for offset, row in enumerate(batch, start=1)
    ]
    return RankedReferrer, rows


def _rewards(snapshot_id: int, _copied: int, batch: list) -> tuple:
    rows = [
        {
            "snapshot_id": snapshot_id,
            "referrer_id": row.user_id,
            "currency": row.currency,
            "rewards": row.n,
            "amount_minor": row.amount,
        }
        for row in batch
    ]
    return RankedReward, rows


def _drop_older(range_key: str, snapshot_id: int, now: datetime) -> None:
    """Delete the preset's snapshots before the previous one, and abandoned ones.

    The previous snapshot stays until the next run: a page that looked it up just
    before this one completed may still be reading its rows.
    """
    snapshots = RankingSnapshot
    older = sa.select(snapshots.id).where(
        snapshots.range_key == range_key, snapshots.id < snapshot_id
    )
    complete = older.where(snapshots.referrers.is_not(None))
    abandoned = older.where(
        snapshots.referrers.is_(None), snapshots.taken_at < now - ABANDONED_AFTER
    )
    stale = [
        *db.session.scalars(complete.order_by(snapshots.id.desc()).offset(1)),
        *db.session.scalars(abandoned),
    ]
    for old_id in stale:
        for table in (RankedReward, RankedReferrer):
            _drop_rows(table, old_id)
        with write_transaction() as session:
            session.execute(sa.delete(snapshots).where(snapshots.id == old_id))


def _drop_rows(table, snapshot_id: int) -> None:
    """Delete one snapshot's rows of a table, a batch of referrers per transaction."""
    while True:
        with write_transaction() as session:
            batch = (
                sa.select(table.referrer_id)
                .where(table.snapshot_id == snapshot_id)
                .order_by(table.referrer_id)
                .limit(BATCH_SIZE)
            )
            deleted = session.execute(
                sa.delete(table).where(
                    table.snapshot_id == snapshot_id, table.referrer_id.in_(batch)
                )
            ).rowcount
        if not deleted:
            return
