"""Program-wide counts per day and all-time counts per referrer, kept on write.

Every change to the daily counts per referrer (``rollups.add``) comes here in the
same transaction: the day's program-wide row (``daily_totals``) and the referrer's
all-time row (``referrer_totals``) move by the same deltas, and
``active_referrers`` follows the referrers whose first click or signup arrives (or
whose last one goes). New users are added per day by the user events in rollups.py
and by seed-demo (:func:`add_users`). The report then reads a few hundred rows for
any range instead of one row per referrer and day.
"""

import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult

from referral_site.referrals.report_models import (
    ActiveReferrers,
    DailyTotal,
    ReferrerTotal,
)

#: Rows per day of each program-wide table (see connection_slot).
SLOTS = 16

Key = tuple[int, date]


def connection_slot(connection: Connection) -> int:
    """The slot of the program-wide rows this database connection adds to.

    Every write of the program adds to today's row: spread over SLOTS rows, two
    transactions rarely wait for the same row lock. A connection keeps its slot, so
    a transaction never holds two slots of one row and slots cannot deadlock.
    """
    info = connection.info
    if "report_slot" not in info:
        info["report_slot"] = secrets.randbelow(SLOTS)
    return info["report_slot"]


def upsert_adding(
    connection: Connection,
    table: sa.Table,
    keys: Iterable[str],
    rows: list[dict],
    returning: Iterable[sa.ColumnElement] = (),
) -> CursorResult | None:
    """Insert rows, or add their counts to the rows with the same keys (one upsert).

    Every row has the same columns: the keys, then the counts to add.
    """
    if not rows:
        return None
    keys = list(keys)
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(table)
    upsert = upsert.on_conflict_do_update(
        index_elements=[table.c[key] for key in keys],
        set_={
            name: table.c[name] + upsert.excluded[name]
            for name in rows[0]
            if name not in keys
        },
    )
    returning = list(returning)
    if returning:
        upsert = upsert.returning(*returning)
    return connection.execute(upsert, rows)


def add(connection: Connection, count: str, deltas: Mapping[Key, int]) -> None:
    """Move the program's days and the referrers' all-time rows by the deltas.

    `count` is clicks, signups or conversions; deltas are by (referrer id, day).
    """
    by_day: Counter = Counter()
    by_referrer: Counter = Counter()
    for (referrer_id, day), n in deltas.items():
        by_day[day] += n
        by_referrer[referrer_id] += n
    _add_days(connection, count, by_day)
    _add_referrers(connection, count, by_referrer)


def add_users(connection: Connection, by_day: Mapping[date, int]) -> None:
    """Add new users (or take deleted ones out) by UTC day of creation."""
    _add_days(connection, "users", by_day)


def _add_days(connection: Connection, count: str, by_day: Mapping[date, int]) -> None:
    slot = connection_slot(connection)
    rows = [
        {"day": day, "slot": slot, count: n} for day, n in sorted(by_day.items()) if n
    ]
    upsert_adding(connection, DailyTotal.__table__, ("day", "slot"), rows)


def _add_referrers(
    connection: Connection, count: str, by_referrer: Mapping[int, int]
) -> None:
    table = ReferrerTotal.__table__
    # Sorted, so two writers lock the same referrers in the same order.
    rows = [
        {"referrer_id": referrer_id, count: n}
        for referrer_id, n in sorted(by_referrer.items())
        if n
    ]
    if count == "conversions":
        # Activity is a click or a signup: conversions never change who is active.
        upsert_adding(connection, table, ("referrer_id",), rows)
        return
    after = upsert_adding(
        connection,
        table,
        ("referrer_id",),
        rows,
        returning=(table.c.referrer_id, table.c.clicks, table.c.signups),
    )
    change = sum(
        _activity_change(row, count, by_referrer[row.referrer_id])
        for row in (after or ())
    )
    if change:
        slot = connection_slot(connection)
        upsert_adding(
            connection,
            ActiveReferrers.__table__,
            ("slot",),
            [{"slot": slot, "referrers": change}],
        )


def _activity_change(row, count: str, delta: int) -> int:
    """+1 if the referrer became active by this delta, -1 if it stopped, else 0."""
    clicks, signups = row.clicks, row.signups
    if count == "clicks":
        before = (clicks - delta, signups)
    else:
        before = (clicks, signups - delta)
    return _active(clicks, signups) - _active(*before)


def _active(clicks: int, signups: int) -> int:
    return int(clicks > 0 or signups > 0)
