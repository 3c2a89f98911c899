"""Seeded clicks for seed-demo: visits skewed like referrals, with daily counts."""

from referral_site.referrals.demo_plan import Seeder, batches, demo_code
from referral_site.referrals.reports import rollups
from referral_site.referrals.storage import bulk
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import CaptureSource, Visit


def seed_clicks(seeder: Seeder) -> None:
    """Visits spread over the span, skewed like referrals, with their daily counts."""
    for batch in batches(seeder.plan.clicks, seeder.plan.batch):
        visits = [_visit(seeder) for _ in batch]
        with db.engine.begin() as connection:
            bulk.insert_rows(connection, Visit.__table__, visits)
            rollups.add_clicks(connection, rollups.count_by_day(visits))
        seeder.progress(len(batch))


def _visit(seeder: Seeder) -> dict:
    referrer_id = seeder.referrer_id()
    code = demo_code(referrer_id)
    return {
        "code": code,
        "referrer_id": referrer_id,
        "visitor_id": f"{seeder.rng.getrandbits(128):032x}",
        "landing_path": f"/r/{code}",
        "source": CaptureSource.LINK,
        "ip_hash": f"{seeder.rng.getrandbits(256):064x}",
        "created_at": seeder.moment(),
    }
