"""Where signed-in users were seen: their device (visitor id) and keyed IP hash.

The fraud signals compare a signup's device and IP with the referrer's own sessions.
A marker in the signed session says what this browser last recorded, so signed-in
pages cost the plugin no query until the device or IP changes or the record ages.
"""

import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import session as signed_session
from sqlalchemy.exc import IntegrityError

from referral_site.referrals.fraud.models import SightingKind, UserSighting
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import utcnow
from referral_site.referrals.storage.transactions import write_transaction

#: How often a signed-in browser's device and IP are written again. The shared-device
#: and shared-IP signals look for sightings with last_seen_at within
#: the program's attribution window (whole days, 30 by default); a last_seen_at at
#: most an hour behind moves that boundary by under an hour. The velocity signals
#: (REFERRALS_VELOCITY_WINDOW_MINUTES) count referrals, not sightings. A new device
#: or IP is written at once, whatever the interval.
SIGHTING_REFRESH = timedelta(hours=1)

#: Session key of [digest of (user, device, IP hash), when recorded (epoch seconds)].
#: Flask signs the session with SECRET_KEY, so a client cannot forge it; one that
#: keeps no cookies is simply recorded on each request.
_MARKER_KEY = "_referrals_seen"


def note_signed_in_request(
    user_id: int, *, visitor_id: str | None, ip_hash: str | None
) -> None:
    """Record a signed-in request's device and IP hash unless this session just did."""
    digest = _marker_digest(user_id, visitor_id, ip_hash)
    marker = signed_session.get(_MARKER_KEY)
    if _is_current(marker, digest):
        return  # no query: the usual signed-in page
    recorded_at = record_sighting(user_id, visitor_id=visitor_id, ip_hash=ip_hash)
    signed_session[_MARKER_KEY] = [digest, int(recorded_at.timestamp())]


def _marker_digest(user_id: int, visitor_id: str | None, ip_hash: str | None) -> str:
    # Only compared, never reversed: keeps the cookie short and free of the values.
    seen = f"{user_id}\0{visitor_id or ''}\0{ip_hash or ''}".encode()
    return hashlib.sha256(seen).hexdigest()[:24]


def _is_current(marker, digest: str) -> bool:
    if not (isinstance(marker, list) and len(marker) == 2 and marker[0] == digest):
        return False
    age = utcnow().timestamp() - marker[1]
    return 0 <= age < SIGHTING_REFRESH.total_seconds()


def record_sighting(
    user_id: int, *, visitor_id: str | None, ip_hash: str | None
) -> datetime:
    """Remember the device and IP hash of a signed-in session (at most hourly).

    Returns when the oldest of the two was last written, from which the caller
    counts SIGHTING_REFRESH before recording again.
    """
    wanted = {
        (kind, value)
        for kind, value in (
            (SightingKind.DEVICE, visitor_id),
            (SightingKind.IP, ip_hash),
        )
        if value
    }
    fresh_since = utcnow() - SIGHTING_REFRESH
    fresh = {
        (kind, value): seen_at
        for kind, value, seen_at in db.session.execute(
            sa.select(
                UserSighting.kind, UserSighting.value, UserSighting.last_seen_at
            ).where(
                UserSighting.user_id == user_id,
                UserSighting.last_seen_at >= fresh_since,
            )
        )
    }
    if wanted <= fresh.keys():
        # A read, not a write: the rows are fresh (another session wrote them).
        return min((fresh[key] for key in wanted), default=utcnow())
    with write_transaction() as session:
        for kind, value in wanted - fresh.keys():
            _upsert_sighting(session, user_id, kind, value)
    return min((fresh[key] for key in wanted & fresh.keys()), default=utcnow())


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
