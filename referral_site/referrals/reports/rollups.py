"""Daily counts per referrer (``visit_rollups``): clicks, signups and conversions.

Kept up to date on every write, so reports sum a few rows per referrer and day
instead of counting visits and referrals; the retention purge deletes old visits
without touching them. Visits and referrals written through the ORM are counted by
mapper events (a referral whose date, referrer or conversion changes moves its
count); bulk inserts (the visit buffer, seed-demo) call :func:`add` in the same
transaction. The counts are written when the transaction commits, with the
program-wide and all-time totals built on them (storage/totals.py); the user events here
count new users per day for those totals.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from referral_site.referrals.fraud.models import VisitRollup
from referral_site.referrals.reports.models import ReferrerTotal
from referral_site.referrals.storage import totals
from referral_site.referrals.storage.models import (
    Referral,
    ReferralAccount,
    ReferralStatus,
    Visit,
)

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
    """Add deltas to one count, by referrer and day, at the transaction's commit."""
    totals.pending(connection).count(count, deltas)


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


# -- users: new users per day, and the counts of a user deleted outright -----------


# The program's users are its referral accounts: every signup makes one, and a
# user the host created alone joins when the plugin first needs their account.


@sa.event.listens_for(ReferralAccount, "after_insert")
def _count_new_user(_mapper, connection: Connection, account) -> None:
    totals.pending(connection).add_users({utc_day(account.created_at): 1})


@sa.event.listens_for(ReferralAccount, "before_update")
def _recount_moved_user(mapper, connection: Connection, account) -> None:
    history = sa.inspect(account).attrs.created_at.history
    if not history.added:
        return
    if history.deleted:
        old = history.deleted[0]
    else:  # set without being loaded: the row still holds the old value
        table = mapper.local_table
        old = connection.scalar(
            sa.select(table.c.created_at).where(table.c.user_id == account.user_id)
        )
    moved: Counter = Counter({utc_day(history.added[0]): 1})
    moved[utc_day(old)] -= 1
    totals.pending(connection).add_users(moved)


def track_users(user_model: type) -> None:
    """Take a user the host deletes outright out of the totals (once per model)."""
    if not sa.event.contains(user_model, "before_delete", _uncount_deleted_user):
        sa.event.listen(user_model, "before_delete", _uncount_deleted_user)


def _uncount_deleted_user(mapper, connection: Connection, user) -> None:
    """Take a user deleted outright out of the program's totals.

    The database deletes their account and own counts with them (ON DELETE
    CASCADE), not the program-wide figures built on those counts.
    """
    (user_id,) = mapper.primary_key_from_instance(user)
    joined = connection.scalar(
        sa.select(ReferralAccount.created_at).where(ReferralAccount.user_id == user_id)
    )
    if joined is None:
        return  # never in the program: nothing of theirs was counted
    changes = totals.pending(connection)
    changes.add_users({utc_day(joined): -1})
    for row in connection.execute(
        sa.select(_ROLLUPS).where(_ROLLUPS.c.referrer_id == user_id)
    ):
        for count in COUNTS:
            changes.days[(row.day, count)] -= getattr(row, count)
    active = connection.scalar(
        sa.select(sa.func.count()).where(
            ReferrerTotal.referrer_id == user_id,
            sa.or_(ReferrerTotal.clicks > 0, ReferrerTotal.signups > 0),
        )
    )
    changes.active -= active
