"""Data retention: old visits are deleted, their clicks stay counted.

The reports keep their click totals (``visit_rollups``, counted when each visit was
written: see reports/rollups.py), while the per-visit details (visitor id, IP hash,
landing path) are gone after the retention period.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from referral_site.referrals.fraud.models import UserSighting
from referral_site.referrals.storage.models import Referral, Visit, utcnow
from referral_site.referrals.storage.transactions import write_transaction

#: Visits handled per transaction, so a large purge never holds the lock for long.
BATCH_SIZE = 5000


@dataclass(frozen=True)
class PurgeResult:
    """What a purge removed."""

    visits: int
    sightings: int
    referrals_scrubbed: int


def purge_visits(retention_days: int, *, now: datetime | None = None) -> PurgeResult:
    """Delete visits older than the retention period; scrub old evidence.

    Also forgets signed-in sightings and the signup IP hash / visitor id on
    referrals older than the period.
    """
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    visits = 0
    while (batch := _purge_batch(cutoff)) is not None:
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


def _purge_batch(cutoff: datetime) -> int | None:
    """Delete one batch of old visits; how many rows went, None when none is left.

    The count is the DELETE's, not the ids selected: a purge running alongside
    may have deleted some of them first, and each run reports only its own. On
    PostgreSQL the rows another run holds are skipped rather than waited for.
    """
    with write_transaction() as session:
        ids = session.scalars(
            sa.select(Visit.id)
            .where(Visit.created_at < cutoff)
            .order_by(Visit.id)
            .limit(BATCH_SIZE)
            .with_for_update(skip_locked=True)
        ).all()
        if not ids:
            return None
        return session.execute(sa.delete(Visit).where(Visit.id.in_(ids))).rowcount
