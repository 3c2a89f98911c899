"""Batch ids that make a retried write of buffered clicks harmless (VisitBatch)."""

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from referral_site.referrals.storage.models import VisitBatch, utcnow

#: How long a batch id is kept: far longer than any retry waits.
KEPT = timedelta(days=1)


def claim_batch(connection: Connection, batch_id: str) -> bool:
    """Record a batch as written in this transaction; False if it already was."""
    seen = connection.scalar(sa.select(sa.exists().where(VisitBatch.id == batch_id)))
    if seen:
        return False
    connection.execute(sa.insert(VisitBatch), {"id": batch_id, "written_at": utcnow()})
    return True


def prune_batches(connection: Connection) -> None:
    """Forget the ids of batches written long ago."""
    connection.execute(
        sa.delete(VisitBatch).where(VisitBatch.written_at < utcnow() - KEPT)
    )
