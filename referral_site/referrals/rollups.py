"""Daily counts per referrer (``visit_rollups``): clicks, signups and conversions.

Kept up to date on every write, so reports sum a few rows per referrer and day
instead of counting visits and referrals; the retention purge deletes old visits
without touching them. Visits and referrals written through the ORM are counted by
mapper events (a referral whose date, referrer or conversion changes moves its
count); bulk inserts (the visit buffer, seed-demo) call :func:`add` in the same
transaction.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from referral_site.referrals.fraud_models import VisitRollup
from referral_site.referrals.models import Referral, ReferralStatus, Visit

_ROLLUPS = VisitRollup.__table__
#: The counted columns of visit_rollups.
COUNTS = ("clicks", "signups", "conversions")

Key = tuple[int, date]


def utc_day(moment: datetime) -> date:
    """The UTC calendar day a timestamp falls on."""
    return moment.astimezone(UTC).date()


def count_by_day(rows: Iterable[Mapping], column: str = "created_at") -> Counter:
    """How many rows (mappings) fall on each (referrer id, UTC day) of `column`."""
    return Counter(
        (row["referrer_id"], utc_day(row[column]))
        for row in rows
        if row.get(column) is not None
    )


def add(connection: Connection, count: str, deltas: Mapping[Key, int]) -> None:
    """Add deltas to one count, by referrer and day, in one upsert."""
    deltas = {key: n for key, n in deltas.items() if n}
    if not deltas:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(_ROLLUPS)
    upsert = upsert.on_conflict_do_update(
        index_elements=[_ROLLUPS.c.referrer_id, _ROLLUPS.c.day],
        set_={count: _ROLLUPS.c[count] + upsert.excluded[count]},
    )
    # A fixed order, so two writers lock the same rows in the same order.
    rows = [
        {"referrer_id": referrer_id, "day": day, count: n}
        for (referrer_id, day), n in sorted(deltas.items())
    ]
    connection.execute(upsert, rows)


def add_clicks(connection: Connection, counts: Mapping[Key, int]) -> None:
    """Add clicks by referrer and day."""
    add(connection, "clicks", counts)


@sa.event.listens_for(Visit, "after_insert")
def _count_inserted_visit(_mapper, connection: Connection, visit: Visit) -> None:
    add_clicks(connection, {(visit.referrer_id, utc_day(visit.created_at)): 1})


def _signup_key(referrer_id, created_at) -> Key | None:
    return (referrer_id, utc_day(created_at)) if created_at is not None else None


def _conversion_key(referrer_id, status, converted_at) -> Key | None:
    if status != ReferralStatus.CONVERTED or converted_at is None:
        return None
    return (referrer_id, utc_day(converted_at))


def _keys(referrer_id, created_at, status, converted_at) -> dict[str, Key | None]:
    return {
        "signups": _signup_key(referrer_id, created_at),
        "conversions": _conversion_key(referrer_id, status, converted_at),
    }


def _current_keys(referral: Referral) -> dict[str, Key | None]:
    return _keys(
        referral.referrer_id,
        referral.created_at,
        referral.status,
        referral.converted_at,
    )


def _previous_keys(referral: Referral) -> dict[str, Key | None]:
    """The keys as they were before this flush's changes."""
    state = sa.inspect(referral)

    def before(name: str):
        history = state.attrs[name].history
        return history.deleted[0] if history.deleted else getattr(referral, name)

    return _keys(
        before("referrer_id"),
        before("created_at"),
        before("status"),
        before("converted_at"),
    )


def _move(connection: Connection, old: dict, new: dict) -> None:
    for count in ("signups", "conversions"):
        if old[count] != new[count]:
            deltas: Counter = Counter()
            if old[count] is not None:
                deltas[old[count]] -= 1
            if new[count] is not None:
                deltas[new[count]] += 1
            add(connection, count, deltas)


_NOTHING = {"signups": None, "conversions": None}


@sa.event.listens_for(Referral, "after_insert")
def _count_inserted_referral(_mapper, connection, referral: Referral) -> None:
    _move(connection, _NOTHING, _current_keys(referral))


@sa.event.listens_for(Referral, "after_update")
def _recount_updated_referral(_mapper, connection, referral: Referral) -> None:
    _move(connection, _previous_keys(referral), _current_keys(referral))


@sa.event.listens_for(Referral, "after_delete")
def _uncount_deleted_referral(_mapper, connection, referral: Referral) -> None:
    _move(connection, _previous_keys(referral), _NOTHING)
