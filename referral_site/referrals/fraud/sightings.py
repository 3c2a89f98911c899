"""Where signed-in users were seen: their device (visitor id) and keyed IP hash.

The fraud signals compare a signup's device and IP with the referrer's own sessions.
"""

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from referral_site.referrals.fraud.models import SightingKind, UserSighting
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import utcnow
from referral_site.referrals.storage.transactions import write_transaction

#: How often a signed-in user's device and IP are written again (limits writes).
SIGHTING_REFRESH = timedelta(hours=1)


def record_sighting(user_id: int, *, visitor_id: str | None, ip_hash: str | None):
    """Remember the device and IP hash of a signed-in session (at most hourly)."""
    wanted = {
        (kind, value)
        for kind, value in (
            (SightingKind.DEVICE, visitor_id),
            (SightingKind.IP, ip_hash),
        )
        if value
    }
    fresh_since = utcnow() - SIGHTING_REFRESH
    fresh = set(
        tuple(row)
        for row in db.session.execute(
            sa.select(UserSighting.kind, UserSighting.value).where(
                UserSighting.user_id == user_id,
                UserSighting.last_seen_at >= fresh_since,
            )
        )
    )
    if wanted <= fresh:
        return  # a read, not a write, on most signed-in requests
    with write_transaction() as session:
        for kind, value in wanted - fresh:
            _upsert_sighting(session, user_id, kind, value)


def _upsert_sighting(session, user_id: int, kind: SightingKind, value: str) -> None:
    row = session.scalar(
        sa.select(UserSighting).where(
            UserSighting.user_id == user_id,
            UserSighting.kind == kind,
            UserSighting.value == value,
        )
    )
    if row is not None:
        row.last_seen_at = utcnow()
        return
    try:
        with session.begin_nested():
            session.add(UserSighting(user_id=user_id, kind=kind, value=value))
    except IntegrityError:
        pass  # a concurrent request of the same user recorded it just now
