"""Data retention: old visits are rolled up into daily counts, then deleted.

The reports keep their click totals (from ``visit_rollups``), while the per-visit
details (visitor id, IP hash, landing path) are gone after the retention period.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from referral_site.referrals.fraud_models import UserSighting, VisitRollup
from referral_site.referrals.models import Referral, Visit, utcnow
from referral_site.referrals.transactions import write_transaction

#: Visits handled per transaction, so a large purge never holds the lock for long.
BATCH_SIZE = 5000


@dataclass(frozen=True)
class PurgeResult:
    """What a purge removed."""

    visits: int
    sightings: int
    referrals_scrubbed: int


def purge_visits(retention_days: int, *, now: datetime | None = None) -> PurgeResult:
    """Roll up and delete visits older than the retention period; scrub old evidence.

    Also forgets signed-in sightings and the signup IP hash / visitor id on
    referrals older than the period.
    """
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    visits = 0
    while batch := _purge_batch(cutoff):
        visits += batch
    with write_transaction() as session:
        sightings = session.execute(
            sa.delete(UserSighting).where(UserSighting.last_seen_at < cutoff)
        ).rowcount
        scrubbed = session.execute(
            sa.update(Referral)
            .where(
                Referral.created_at < cutoff,
                sa.or_(
                    Referral.signup_ip_hash.is_not(None),
                    Referral.signup_visitor_id.is_not(None),
                ),
            )
            .values(signup_ip_hash=None, signup_visitor_id=None)
        ).rowcount
    return PurgeResult(visits=visits, sightings=sightings, referrals_scrubbed=scrubbed)


def _purge_batch(cutoff: datetime) -> int:
    """Roll up and delete one batch of old visits; returns how many."""
    with write_transaction() as session:
        rows = session.execute(
            sa.select(Visit.id, Visit.referrer_id, Visit.created_at)
            .where(Visit.created_at < cutoff)
            .order_by(Visit.id)
            .limit(BATCH_SIZE)
        ).all()
        if not rows:
            return 0
        # Days in UTC, computed here rather than by each database's date().
        counts = Counter(
            (row.referrer_id, row.created_at.astimezone(UTC).date()) for row in rows
        )
        _add_to_rollups(session, counts)
        session.execute(sa.delete(Visit).where(Visit.id.in_([row.id for row in rows])))
    return len(rows)


def _add_to_rollups(session, counts: "Counter[tuple[int, date]]") -> None:
    existing = {
        (rollup.referrer_id, rollup.day): rollup
        for rollup in session.scalars(
            sa.select(VisitRollup).where(
                VisitRollup.referrer_id.in_({referrer for referrer, _ in counts})
            )
        )
    }
    for (referrer_id, day), clicks in counts.items():
        rollup = existing.get((referrer_id, day))
        if rollup is None:
            session.add(VisitRollup(referrer_id=referrer_id, day=day, clicks=clicks))
        else:
            rollup.clicks += clicks
