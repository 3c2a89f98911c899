"""Reward counts and sums per UTC day of creation, currency and status (for the
program) and per user, currency and status (all time).

Kept in the transaction of every reward write (written at its commit, see
storage/totals.py), so the report sums a few rows per day instead of every reward in the
range: mapper events count the rewards the ORM inserts, updates or deletes; the
conditional Core UPDATE that moves a reward's status (lifecycle.move) calls
:func:`move_status`; seed-demo adds its bulk-inserted rows with :func:`add_rows`.
"""

from collections.abc import Iterable, Mapping
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from referral_site.referrals.reports.rollups import utc_day
from referral_site.referrals.storage import totals
from referral_site.referrals.storage.models import Reward, RewardStatus

#: (user id, UTC day of creation, currency, status)
Key = tuple[int, date, str, RewardStatus]
#: The reward columns the totals depend on.
COLUMNS = ("user_id", "created_at", "currency", "status", "amount_minor")


def add(connection: Connection, deltas: Mapping[Key, tuple[int, int]]) -> None:
    """Add (rewards, minor units) by user, UTC day of creation, currency and status:
    to the program's days and to the user's all-time totals."""
    changes = totals.pending(connection)
    for (user_id, day, currency, status), (n, amount) in deltas.items():
        for counter, key in (
            (changes.rewards, (day, currency, status)),
            (changes.user_rewards, (user_id, currency, status)),
        ):
            counter[(*key, "rewards")] += n
            counter[(*key, "amount_minor")] += amount


def tally(rewards: Iterable[tuple[Mapping, int]]) -> dict[Key, tuple[int, int]]:
    """The deltas that add (sign 1) or take out (sign -1) rewards.

    Each reward is a mapping of at least its COLUMNS.
    """
    deltas: dict[Key, tuple[int, int]] = {}
    for values, sign in rewards:
        key = (
            values["user_id"],
            utc_day(values["created_at"]),
            values["currency"],
            RewardStatus(values["status"]),
        )
        n, amount = deltas.get(key, (0, 0))
        deltas[key] = (n + sign, amount + sign * values["amount_minor"])
    return deltas


def add_rows(connection: Connection, rows: Iterable[Mapping]) -> None:
    """Count bulk-inserted rewards (mappings of the rewards table's columns)."""
    add(connection, tally((row, 1) for row in rows))


def move_status(connection: Connection, reward: Mapping, status: RewardStatus) -> None:
    """Count a reward (a mapping of its COLUMNS, before) under a new status."""
    moved = {**reward, "status": status}
    add(connection, tally([(reward, -1), (moved, 1)]))


def _values(reward: Reward) -> dict[str, object]:
    return {name: getattr(reward, name) for name in COLUMNS}


def _previous_values(reward: Reward) -> dict[str, object]:
    """The counted columns as they were before this flush's changes."""
    state = sa.inspect(reward)
    values = {}
    for name in COLUMNS:
        history = state.attrs[name].history
        values[name] = history.deleted[0] if history.deleted else getattr(reward, name)
    return values


@sa.event.listens_for(Reward, "after_insert")
def _count_inserted_reward(_mapper, connection: Connection, reward: Reward) -> None:
    add(connection, tally([(_values(reward), 1)]))


@sa.event.listens_for(Reward, "after_update")
def _recount_updated_reward(_mapper, connection: Connection, reward: Reward) -> None:
    old, new = _previous_values(reward), _values(reward)
    if old != new:
        add(connection, tally([(old, -1), (new, 1)]))


@sa.event.listens_for(Reward, "after_delete")
def _uncount_deleted_reward(_mapper, connection: Connection, reward: Reward) -> None:
    add(connection, tally([(_previous_values(reward), -1)]))
