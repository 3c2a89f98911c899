"""Clicks on referral links: the row each one writes, and the IP's keyed hash."""

import hashlib
import hmac
from typing import TYPE_CHECKING

from flask import current_app

from referral_site.referrals.input_checks import without_control_characters
from referral_site.referrals.storage.models import CaptureSource, Visit, utcnow
from referral_site.referrals.storage.transactions import write_transaction

if TYPE_CHECKING:
    from referral_site.referrals.attribution.services import Referrer


def hash_ip(ip: str | None, key: bytes | None = None) -> str | None:
    """A keyed hash of a client IP, so the same IP can be matched but not recovered.

    The key is the app's REFERRALS_IP_HASH_KEY unless given.
    """
    if not ip:
        return None
    key = key or current_app.extensions["referrals"].ip_hash_key
    return hmac.new(key, ip.encode(), hashlib.sha256).hexdigest()


def visit_row(
    referrer: "Referrer",
    *,
    visitor_id: str,
    landing_path: str,
    source: CaptureSource,
    ip_hash: str | None,
) -> dict:
    """One click as the columns of its row in the visits table."""
    return {
        "code": referrer.code,
        "referrer_id": referrer.id,
        "visitor_id": visitor_id,
        # As seen, minus what no column should hold (a path may carry %00).
        "landing_path": without_control_characters(landing_path)[:512],
        "source": source,
        "ip_hash": ip_hash,
        "created_at": utcnow(),
    }


def record_visit(
    referrer: "Referrer",
    *,
    visitor_id: str,
    landing_path: str,
    source: CaptureSource,
    ip: str | None,
) -> int | None:
    """Store one click on a referral link and return its id.

    With the visit buffer on, the click is queued for the next batch and has no id
    yet (None); signup then finds the visit from the visitor id and the time.
    """
    row = visit_row(
        referrer,
        visitor_id=visitor_id,
        landing_path=landing_path,
        source=source,
        ip_hash=hash_ip(ip),
    )
    buffer = current_app.extensions["referrals"].visit_buffer
    if buffer is not None:
        buffer.append(row)
        return None
    with write_transaction() as session:
        visit = Visit(**row)
        session.add(visit)
        session.flush()
        visit_id = visit.id
    return visit_id
