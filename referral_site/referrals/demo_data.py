"""Demo data at volume for `flask referrals seed-demo`: bulk inserts in batches.

A realistic program: a few referrers with very many referrals (one "popular"
referrer holds a set share), clicks spread over months, conversions, and rewards in
every status. Rows are generated and inserted batch by batch (COPY on PostgreSQL,
an executemany elsewhere: storage/bulk.py), so memory stays bounded whatever the volume.
Every seeded user shares one password hash, computed once: the password is
:data:`DEMO_PASSWORD`. The plan and the seeded draws live in demo_plan.py, the rows
in demo_referrals.py and demo_clicks.py.
"""

from collections.abc import Callable

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.demo_clicks import seed_clicks
from referral_site.referrals.demo_plan import (
    DEMO_PASSWORD,
    Seeder,
    SeedPlan,
    SeedRefused,
    demo_code,
)
from referral_site.referrals.demo_referrals import seed_referred, seed_referrers
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import Conversion, Referral, Reward

__all__ = [
    "DEMO_PASSWORD",
    "SeedPlan",
    "SeedRefused",
    "database_is_empty",
    "demo_code",
    "seed",
    "total_rows",
]


def database_is_empty() -> bool:
    """Whether the users table has no rows (seed-demo refuses otherwise)."""
    User = current_app.extensions["referrals"].user_model
    return db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def seed(plan: SeedPlan, progress: Callable[[int], None]) -> None:
    """Insert the plan's users, referrals, conversions, rewards and clicks."""
    plan.check()
    seeder = Seeder(plan, progress)
    # End the session's read transaction: on SQLite an open reader stops WAL
    # checkpoints, and the WAL would grow by the whole seed.
    db.session.close()
    seed_referrers(seeder)
    seed_referred(seeder)
    seed_clicks(seeder)
    _reset_sequences()
    _gather_statistics()


def _reset_sequences() -> None:
    """On PostgreSQL, move id sequences past the ids the seed gave explicitly."""
    if db.engine.dialect.name != "postgresql":
        return
    users = current_app.extensions["referrals"].user_model.__table__
    with db.engine.begin() as connection:
        for table in (users, *(m.__table__ for m in (Referral, Conversion, Reward))):
            highest = sa.select(sa.func.coalesce(sa.func.max(table.c.id), 1))
            sequence = sa.func.pg_get_serial_sequence(table.name, "id")
            connection.execute(
                sa.select(sa.func.setval(sequence, highest.scalar_subquery()))
            )


def _gather_statistics() -> None:
    """On PostgreSQL, ANALYZE the tables just filled.

    After a bulk load the planner knows nothing of them until autovacuum comes
    round (never, where it is off), and may then scan a million rows of totals for
    the admin report's page of 25 (33 ms instead of 0.5 ms at 1M referrals).
    PostgreSQL's advice for populating a database is the same.
    """
    if db.engine.dialect.name != "postgresql":
        return
    quote = db.engine.dialect.identifier_preparer
    tables = ", ".join(quote.format_table(table) for table in db.metadata.sorted_tables)
    with db.engine.begin() as connection:
        connection.exec_driver_sql(f"ANALYZE {tables}")


def total_rows(plan: SeedPlan) -> int:
    """How many progress steps a plan takes (users, referrals, clicks)."""
    return plan.users + plan.clicks
