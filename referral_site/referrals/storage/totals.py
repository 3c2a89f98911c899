"""The counts the reports read, collected during a transaction, written at its commit.

Every count is kept in the transaction of the write it counts: per referrer and day
(``visit_rollups``, see reports/rollups.py), the program's per day
(``daily_totals``), each referrer's all time (``referrer_totals``, and
``active_referrers``), rewards per day, currency and status and per user
(``daily_reward_totals``, ``user_reward_totals``, see rewards/totals.py). Writers
only note what changed, in the connection's :func:`pending` changes; when the
transaction commits they are written, one upsert per table in a fixed order, each
sorted by key.

These rows are shared by many transactions, today's program-wide row by all of them.
Written as they happen, a transaction would hold their locks until its commit, taken
in the order of its own writes (a signup counts its user, then its referral; a click
its referrer's day), and two such transactions deadlock on PostgreSQL. Written last
and in one order, the locks are held for the commit only and cannot deadlock. What a
rolled-back savepoint noted is dropped with it.
"""

import functools
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection, CursorResult, Engine

from referral_site.referrals.fraud.models import VisitRollup
from referral_site.referrals.reports.models import (
    ActiveReferrers,
    DailyRewardTotal,
    DailyTotal,
    ReferrerTotal,
    UserRewardTotal,
)
from referral_site.referrals.storage.bulk import dialect_insert

#: Rows per day of each program-wide table (see connection_slot).
SLOTS = 16
#: The counts kept per referrer and day.
COUNTS = ("clicks", "signups", "conversions")
#: The counts kept per day for the whole program.
DAY_COUNTS = ("users", *COUNTS)
#: What is kept of rewards: how many, and their sum in minor units.
REWARD_SUMS = ("rewards", "amount_minor")
_PENDING = "referrals_pending_counts"

Key = tuple[int, date]


@dataclass
class Changes:
    """What a transaction added to (or took from) the counts, not yet written."""

    #: (referrer id, UTC day, count) -> n; the program's days and the referrer's
    #: all-time totals follow.
    referrer_days: Counter = field(default_factory=Counter)
    #: (UTC day, count) -> n for the program alone: new users, and the counts of
    #: a referrer deleted outright (the database deletes their own rows).
    days: Counter = field(default_factory=Counter)
    #: Referrers no longer active for a reason referrer_totals cannot show.
    active: int = 0
    #: (UTC day, currency, status, "rewards" or "amount_minor") -> n.
    rewards: Counter = field(default_factory=Counter)
    #: (user id, currency, status, "rewards" or "amount_minor") -> n.
    user_rewards: Counter = field(default_factory=Counter)

    def count(self, count: str, deltas: Mapping[Key, int]) -> None:
        """Add to one count (clicks, signups, conversions) by referrer and day."""
        for (referrer_id, day), n in deltas.items():
            self.referrer_days[(referrer_id, day, count)] += n

    def add_users(self, by_day: Mapping[date, int]) -> None:
        """Add new users (or take some out) by UTC day of creation."""
        for day, n in by_day.items():
            self.days[(day, "users")] += n

    def merge(self, other: "Changes") -> None:
        """Add another transaction's (a released savepoint's) changes to these."""
        for mine, theirs in (
            (self.referrer_days, other.referrer_days),
            (self.days, other.days),
            (self.rewards, other.rewards),
            (self.user_rewards, other.user_rewards),
        ):
            mine.update(theirs)  # update adds, negative numbers included
        self.active += other.active


def pending(connection: Connection) -> Changes:
    """The changes noted in the connection's current transaction (or savepoint)."""
    frames = connection.info.setdefault(_PENDING, [])
    if not frames:
        frames.append(Changes())
    return frames[-1]


# -- the transaction's boundaries ----------------------------------------------------
# Listened to on the Engine class: every engine the app writes through (one per
# app with Flask-SQLAlchemy) writes its counts, and an engine that never notes
# anything is left alone.


@sa.event.listens_for(Engine, "commit")
def _write_at_commit(connection: Connection) -> None:
    # Savepoints still open are released by this commit: their changes count.
    frames = connection.info.pop(_PENDING, [])
    if frames:
        changes = frames[0]
        for frame in frames[1:]:
            changes.merge(frame)
        write(connection, changes)


@sa.event.listens_for(Engine, "begin")
@sa.event.listens_for(Engine, "rollback")
def _forget(connection: Connection) -> None:
    if connection.invalidated:
        # The connection dropped. Reading ``info`` now would raise
        # PendingRollbackError, turning the rollback that follows a lost
        # connection into an error of its own; the next "begin" drops the notes.
        return
    connection.info.pop(_PENDING, None)


@sa.event.listens_for(Engine, "savepoint")
def _open_savepoint(connection: Connection, _name) -> None:
    pending(connection)  # the transaction's own frame comes first
    connection.info[_PENDING].append(Changes())


@sa.event.listens_for(Engine, "release_savepoint")
def _keep_savepoint(connection: Connection, _name, _context) -> None:
    frames = connection.info.get(_PENDING)
    if frames and len(frames) > 1:
        frames[-2].merge(frames.pop())


@sa.event.listens_for(Engine, "rollback_savepoint")
def _drop_savepoint(connection: Connection, _name, _context) -> None:
    frames = connection.info.get(_PENDING)
    if frames and len(frames) > 1:
        frames.pop()


# -- writing ---------------------------------------------------------------------


def connection_slot(connection: Connection) -> int:
    """The slot of the program-wide rows this database connection adds to.

    Every write of the program adds to today's row: spread over SLOTS rows, two
    commits rarely wait for the same row lock.
    """
    info = connection.info
    if "report_slot" not in info:
        info["report_slot"] = secrets.randbelow(SLOTS)
    return info["report_slot"]


def upsert_adding(
    connection: Connection,
    table: sa.Table,
    keys: tuple[str, ...],
    rows: list[dict],
    returning: tuple[str, ...] = (),
) -> CursorResult | None:
    """Insert rows, or add their counts to the rows with the same keys (one upsert).

    Every row has the same columns: the keys, then the counts to add. `returning`
    names columns to read back, as they are after the upsert.
    """
    if not rows:
        return None
    counts = tuple(name for name in rows[0] if name not in keys)
    dialect = connection.dialect.name
    if dialect == "postgresql" and len(rows) > 1:
        # One row of arrays, not an executemany: a batch of clicks moves the
        # counts of hundreds of referrers, and each row of an executemany costs
        # about 9 µs of Python holding the worker's interpreter lock.
        upsert = _array_upsert(table, keys, counts, returning)
        columns = (*keys, *counts)
        return connection.execute(
            upsert, {name: [row[name] for row in rows] for name in columns}
        )
    upsert = _upsert(dialect, table, keys, counts, returning)
    return connection.execute(upsert, rows)


@functools.cache
def _upsert(dialect: str, table: sa.Table, keys, counts, returning) -> sa.Insert:
    # Built once per shape: building the statement costs more than running it.
    insert = dialect_insert(dialect, table)
    return _adding_on_conflict(insert, keys, counts, returning)


@functools.cache
def _array_upsert(table: sa.Table, keys, counts, returning) -> sa.Insert:
    """The PostgreSQL upsert of rows given as one array per column.

    ``INSERT ... SELECT FROM unnest(...) WITH ORDINALITY ORDER BY`` it: the rows
    are written (and their locks taken) in the order given, sorted by key.
    """
    from sqlalchemy.dialects import postgresql

    names = (*keys, *counts)
    arrays = [
        sa.bindparam(name, type_=postgresql.ARRAY(table.c[name].type)) for name in names
    ]
    given = (
        sa.func.unnest(*arrays)
        .table_valued(*names, with_ordinality="position")
        .render_derived(name="given")
    )
    rows = sa.select(*(given.c[name] for name in names)).order_by(given.c.position)
    insert = postgresql.insert(table).from_select(names, rows)
    return _adding_on_conflict(insert, keys, counts, returning)


def _adding_on_conflict(insert, keys, counts, returning) -> sa.Insert:
    """The insert, adding its counts to those of a row with the same keys."""
    table = insert.table
    upsert = insert.on_conflict_do_update(
        index_elements=[table.c[key] for key in keys],
        set_={name: table.c[name] + insert.excluded[name] for name in counts},
    )
    if returning:
        upsert = upsert.returning(*(table.c[name] for name in returning))
    return upsert


def write(connection: Connection, changes: Changes) -> None:
    """Write changes: one upsert per table, always in this order, sorted by key.

    visit_rollups, referrer_totals, active_referrers, user_reward_totals,
    daily_totals, daily_reward_totals.
    """
    per_day: Counter = Counter(changes.days)
    per_referrer: Counter = Counter()
    for (referrer_id, day, count), n in changes.referrer_days.items():
        per_day[(day, count)] += n
        per_referrer[(referrer_id, count)] += n
    slot = connection_slot(connection)
    upsert_adding(
        connection,
        VisitRollup.__table__,
        ("referrer_id", "day"),
        _rows(changes.referrer_days, ("referrer_id", "day"), COUNTS),
    )
    active = _write_referrers(connection, per_referrer) + changes.active
    if active:
        row = {"slot": slot, "referrers": active}
        upsert_adding(connection, ActiveReferrers.__table__, ("slot",), [row])
    upsert_adding(
        connection,
        UserRewardTotal.__table__,
        ("user_id", "currency", "status"),
        _rows(changes.user_rewards, ("user_id", "currency", "status"), REWARD_SUMS),
    )
    upsert_adding(
        connection,
        DailyTotal.__table__,
        ("day", "slot"),
        _rows(per_day, ("day",), DAY_COUNTS, slot=slot),
    )
    upsert_adding(
        connection,
        DailyRewardTotal.__table__,
        ("day", "currency", "status", "slot"),
        _rows(changes.rewards, ("day", "currency", "status"), REWARD_SUMS, slot=slot),
    )


def _rows(deltas: Counter, keys: tuple, columns: tuple, **extra) -> list[dict]:
    """Upsert rows from (key..., column) -> n: one per key, sorted, zeros left out."""
    grouped: dict[tuple, dict] = {}
    for (*key, column), n in deltas.items():
        if n:
            grouped.setdefault(tuple(key), dict.fromkeys(columns, 0))[column] += n
    return [
        dict(zip(keys, key, strict=True)) | extra | counts
        for key, counts in sorted(grouped.items())
    ]


def _write_referrers(connection: Connection, deltas: Counter) -> int:
    """Add to the referrers' all-time rows; how many became active (or stopped)."""
    table = ReferrerTotal.__table__
    rows = _rows(deltas, ("referrer_id",), COUNTS)
    added = {row["referrer_id"]: row for row in rows}
    after = upsert_adding(
        connection,
        table,
        ("referrer_id",),
        rows,
        returning=("referrer_id", "clicks", "signups"),
    )
    change = 0
    for row in after or ():
        delta = added[row.referrer_id]
        before = (row.clicks - delta["clicks"], row.signups - delta["signups"])
        change += _active(row.clicks, row.signups) - _active(*before)
    return change


def _active(clicks: int, signups: int) -> int:
    return int(clicks > 0 or signups > 0)
