"""Bulk inserts (COPY on PostgreSQL): rows stored as an INSERT would store them."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.fraud.models import ReferralCode
from referral_site.referrals.storage import bulk
from referral_site.referrals.storage.models import CaptureSource, Visit
from tests.conftest import query


def _visit(referrer_id: int, code: str, n: int, **changes) -> dict:
    return {
        "code": code,
        "referrer_id": referrer_id,
        "visitor_id": f"visitor-{n}",
        "landing_path": "/r/" + code + "?tab=a\tb\nc\\d",
        "source": CaptureSource.QUERY if n % 2 else CaptureSource.LINK,
        "ip_hash": None if n % 3 else f"{n:064x}",
        # Not UTC on the way in: stored, like an INSERT's, as the same instant.
        "created_at": datetime(2026, 3, 1, 12, n, tzinfo=timezone(timedelta(hours=2))),
    } | changes


def test_rows_are_stored_as_an_insert_would_store_them(app, make_user):
    ann_id, code = make_user()
    rows = [_visit(ann_id, code, n) for n in range(5)]
    with app.app_context(), db.engine.begin() as connection:
        bulk.insert_rows(connection, Visit.__table__, rows)
    stored = query(
        app,
        sa.select(
            Visit.code,
            Visit.referrer_id,
            Visit.visitor_id,
            Visit.landing_path,
            Visit.source,
            Visit.ip_hash,
            Visit.created_at,
        ).order_by(Visit.visitor_id),
    )
    assert [tuple(row) for row in stored] == [tuple(row.values()) for row in rows]
    assert stored[0].created_at.tzinfo is not None
    assert stored[0].created_at.astimezone(UTC).hour == 10


def test_a_refused_row_is_an_integrity_error_and_writes_nothing(app, make_user):
    ann_id, code = make_user()
    rows = [_visit(ann_id, code, 0), _visit(ann_id + 1000, code, 1)]
    with pytest.raises(sa.exc.IntegrityError), app.app_context():
        with db.engine.begin() as connection:
            bulk.insert_rows(connection, Visit.__table__, rows)
    assert query(app, sa.select(Visit.id)) == []


def test_a_default_computed_in_python_is_filled_in(app, make_user):
    ann_id, _ = make_user()
    # referral_codes.created_at defaults to the time of the insert, in Python.
    row = {"code": "BULKCODE", "user_id": ann_id, "is_primary": False}
    with app.app_context(), db.engine.begin() as connection:
        bulk.insert_rows(connection, ReferralCode.__table__, [row])
    (stored,) = query(
        app, sa.select(ReferralCode.created_at).where(ReferralCode.code == "BULKCODE")
    )
    assert stored.created_at is not None


def test_no_rows_is_nothing_to_do(app):
    with app.app_context(), db.engine.begin() as connection:
        bulk.insert_rows(connection, Visit.__table__, [])
    assert query(app, sa.select(Visit.id)) == []
