"""Daily click counts per referrer (``visit_rollups``), kept up to date on every write.

Reports read clicks from these counts instead of counting visits, so their cost
follows the number of referrer-days, not the number of clicks; the retention purge
deletes old visits without touching them. Visits inserted through the ORM are
counted by a mapper event; bulk inserts (the visit buffer, seed-demo) call
:func:`add_clicks` in the same transaction.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from referral_site.referrals.fraud_models import VisitRollup
from referral_site.referrals.models import Visit

_ROLLUPS = VisitRollup.__table__


def utc_day(moment: datetime) -> date:
    """The UTC calendar day a timestamp falls on."""
    return moment.astimezone(UTC).date()


def count_by_day(visits: Iterable[Mapping]) -> "Counter[tuple[int, date]]":
    """Clicks per (referrer id, UTC day) among visit rows given as mappings."""
    return Counter((row["referrer_id"], utc_day(row["created_at"])) for row in visits)


def add_clicks(connection: Connection, counts: Mapping[tuple[int, date], int]) -> None:
    """Add clicks to the daily counts in one upsert (INSERT ... ON CONFLICT)."""
    if not counts:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(_ROLLUPS)
    upsert = upsert.on_conflict_do_update(
        index_elements=[_ROLLUPS.c.referrer_id, _ROLLUPS.c.day],
        set_={"clicks": _ROLLUPS.c.clicks + upsert.excluded.clicks},
    )
    # A fixed order, so two writers lock the same rows in the same order.
    rows = [
        {"referrer_id": referrer_id, "day": day, "clicks": clicks}
        for (referrer_id, day), clicks in sorted(counts.items())
    ]
    connection.execute(upsert, rows)


@sa.event.listens_for(Visit, "after_insert")
def _count_inserted_visit(_mapper, connection: Connection, visit: Visit) -> None:
    """Count a visit inserted through the ORM, in the transaction that inserts it."""
    add_clicks(connection, {(visit.referrer_id, utc_day(visit.created_at)): 1})
