"""Leaderboard snapshots of the range presets, written by a periodic job.

Ranking every referrer over the last 7, 30 or 90 days means summing one row per
referrer and day of the range: with a long tail of referrers that is millions of
rows, too many for a page view. ``flask referrals refresh-leaderboards`` does it
from cron instead and stores each preset's ranks, so the report reads one page of
them (leaderboard.py) and says as of when.

A snapshot is written in batches, each its own short transaction (on SQLite the
write lock is never held while the counts are summed), and only counts once it is
complete; the older snapshots of the preset are deleted after that. Two runs at
once each write a complete snapshot; the report reads the newest.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.leaderboard import live_counts
from referral_site.referrals.models import utcnow
from referral_site.referrals.report_models import RankedReferrer, RankingSnapshot
from referral_site.referrals.reports import PRESETS, DateRange, date_range
from referral_site.referrals.transactions import write_transaction

#: Ranked rows written (or deleted) per transaction.
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
    ranked = 0
    with db.engine.connect() as reader:
        rows = reader.execution_options(yield_per=BATCH_SIZE).execute(
            live_counts(period)
        )
        for batch in rows.partitions():
            _write(snapshot_id, ranked, batch)
            ranked += len(batch)
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


def _write(snapshot_id: int, ranked_before: int, batch) -> None:
    """Store one batch of the ranking (rows best first) after the rows before it."""
    with write_transaction() as session:
        session.execute(
            sa.insert(RankedReferrer),
            [
                {
                    "snapshot_id": snapshot_id,
                    "rank": ranked_before + offset,
                    "referrer_id": row.id,
                    "clicks": row.clicks,
                    "signups": row.signups,
                    "conversions": row.conversions,
                }
                for offset, row in enumerate(batch, start=1)
            ],
        )


def _drop_older(range_key: str, snapshot_id: int, now: datetime) -> None:
    """Delete the preset's older snapshots: complete ones, and abandoned ones."""
    snapshots = RankingSnapshot
    older = db.session.scalars(
        sa.select(snapshots.id).where(
            snapshots.range_key == range_key,
            snapshots.id < snapshot_id,
            sa.or_(
                snapshots.referrers.is_not(None),
                snapshots.taken_at < now - ABANDONED_AFTER,
            ),
        )
    ).all()
    for old_id in older:
        _drop(old_id)


def _drop(snapshot_id: int) -> None:
    """Delete one snapshot, its ranks a batch per transaction."""
    ranked = RankedReferrer
    while True:
        with write_transaction() as session:
            ranks = sa.select(ranked.rank).where(ranked.snapshot_id == snapshot_id)
            deleted = session.execute(
                sa.delete(ranked).where(
                    ranked.snapshot_id == snapshot_id,
                    ranked.rank.in_(ranks.order_by(ranked.rank).limit(BATCH_SIZE)),
                )
            ).rowcount
            if not deleted:
                session.execute(
                    sa.delete(RankingSnapshot).where(RankingSnapshot.id == snapshot_id)
                )
                return
