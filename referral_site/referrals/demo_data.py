"""Demo data at volume for `flask referrals seed-demo`: bulk inserts in batches.

A realistic program: a few referrers with very many referrals (one "popular"
referrer holds a set share), clicks spread over months, conversions, and rewards in
every status. Rows are generated and inserted batch by batch (COPY on PostgreSQL,
an executemany elsewhere: storage/bulk.py), so memory stays bounded whatever the volume.
Every seeded user shares one password hash, computed once: the password is
:data:`DEMO_PASSWORD`.
"""

import random
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.attribution.codes import ALPHABET, CODE_LENGTH
from referral_site.referrals.fraud.models import ReferralCode
from referral_site.referrals.reports import rollups
from referral_site.referrals.rewards import totals as reward_totals
from referral_site.referrals.storage import bulk, totals
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import (
    CaptureSource,
    Conversion,
    Referral,
    ReferralAccount,
    ReferralStatus,
    ReviewStatus,
    Reward,
    RewardEvent,
    RewardKind,
    RewardStatus,
    Visit,
    utcnow,
)

#: The password of every seeded account (the admin is admin@example.com).
DEMO_PASSWORD = "correct horse battery"  # noqa: S105 (documented demo data)
#: Rewards of seeded conversions land in these statuses, with these weights.
REWARD_STATUS_WEIGHTS = {
    RewardStatus.PENDING: 30,
    RewardStatus.REVIEW: 5,
    RewardStatus.APPROVED: 25,
    RewardStatus.PAID: 30,
    RewardStatus.REJECTED: 5,
    RewardStatus.REVERSED: 5,
}
#: A multiplier coprime with len(ALPHABET) ** CODE_LENGTH: spreads ids over codes.
_CODE_STRIDE = 2_654_435_761


class SeedRefused(Exception):
    """The requested data cannot be seeded; the message says why."""


@dataclass(frozen=True)
class SeedPlan:
    """What to seed: counts, the popular referrer's share, the time span, the batch."""

    users: int
    referrals: int
    clicks: int
    conversions: int
    top_referrals: int
    days: int = 180
    batch: int = 10_000
    seed: int = 1

    def check(self) -> None:
        """Refuse plans that cannot be seeded (one referred user per referral)."""
        if self.referrals > self.users - 2:
            raise SeedRefused(
                "--users must exceed --referrals by at least 2 (an admin and a "
                "referrer; each referral needs its own referred user)."
            )
        if self.conversions > self.referrals:
            raise SeedRefused("--conversions cannot exceed --referrals.")
        if self.top_referrals > self.referrals:
            raise SeedRefused("--top-referrals cannot exceed --referrals.")


def demo_code(user_id: int) -> str:
    """A distinct, random-looking code per user id, from the codes' alphabet."""
    space = len(ALPHABET) ** CODE_LENGTH
    number = (user_id * _CODE_STRIDE) % space
    digits = []
    for _ in range(CODE_LENGTH):
        number, digit = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return "".join(digits)


def database_is_empty() -> bool:
    """Whether the users table has no rows (seed-demo refuses otherwise)."""
    User = current_app.extensions["referrals"].user_model
    return db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


class _Seeder:
    """Generates and inserts one plan's rows; ids are assigned here, from first_id."""

    def __init__(self, plan: SeedPlan, progress: Callable[[int], None]) -> None:
        self.plan = plan
        self.progress = progress
        # Reproducible demo data, not secrets: a seeded PRNG is the point.
        self.rng = random.Random(plan.seed)  # noqa: S311  # nosec B311
        self.now = utcnow()
        self.users = current_app.extensions["referrals"].user_model.__table__
        self.password_hash = _demo_password_hash()
        self.first_user = _next_id(self.users)
        self.first_referral = _next_id(Referral.__table__)
        self.first_conversion = _next_id(Conversion.__table__)
        self.first_reward = _next_id(Reward.__table__)
        # Users [first_user, first_referred) refer; the rest are referred.
        self.first_referred = self.first_user + plan.users - plan.referrals
        self.conversions_left = plan.conversions
        self.top_left = plan.top_referrals

    def referrer_id(self) -> int:
        """A skewed draw: the popular referrer by its share, others by a power law."""
        if self.rng.random() < self.plan.top_referrals / max(self.plan.referrals, 1):
            return self.first_user + 1
        return self._other_referrer()

    def referrer_of(self, index: int) -> int:
        """Referral `index`'s referrer: the popular one gets exactly its count."""
        left = self.plan.referrals - index
        if self.rng.random() * left < self.top_left:
            self.top_left -= 1
            return self.first_user + 1
        return self._other_referrer()

    def _other_referrer(self) -> int:
        # Users after the admin and the popular referrer; low ids refer the most.
        others = self.first_referred - self.first_user - 2
        if others <= 0:
            return self.first_user + 1
        return self.first_user + 2 + int(others * self.rng.random() ** 3)

    def moment(self, after: datetime | None = None) -> datetime:
        """A time within the plan's span (and after `after`, when given)."""
        start = after or self.now - timedelta(days=self.plan.days)
        span = (self.now - start).total_seconds()
        return start + timedelta(seconds=span * self.rng.random())

    def user_row(self, user_id: int, created_at: datetime) -> dict:
        """The host's user row: the columns its table has of these."""
        row = {"id": user_id}
        admin = user_id == self.first_user and self.first_user == 1
        extra = {
            "created_at": created_at,
            "email": "admin@example.com" if admin else f"user{user_id}@example.com",
            "name": "Admin" if admin else f"Demo user {user_id}",
            "password_hash": self.password_hash,
            "session_token": secrets.token_urlsafe(24),
            "is_admin": admin,
        }
        row.update({k: v for k, v in extra.items() if k in self.users.c})
        return row

    def account_rows(
        self, rows: dict, user_id: int, created_at: datetime, referred_by: int | None
    ) -> None:
        """Add a user, their referral account and their code to the batch's rows."""
        account = {
            "user_id": user_id,
            "code": demo_code(user_id),
            "referred_by_id": referred_by,
            "created_at": created_at,
        }
        rows[self.users].append(self.user_row(user_id, created_at))
        rows[ReferralAccount.__table__].append(account)
        rows[ReferralCode.__table__].append(
            {
                "code": account["code"],
                "user_id": user_id,
                "is_primary": True,
                "created_at": created_at,
            }
        )


def _demo_password_hash() -> str | None:
    """The one hash every seeded user shares (hashing a million is not the point)."""
    user = current_app.extensions["referrals"].user_model()
    if not hasattr(user, "set_password"):
        return None
    user.set_password(DEMO_PASSWORD)
    return user.password_hash


def _next_id(table: sa.Table) -> int:
    return (db.session.scalar(sa.select(sa.func.max(table.c.id))) or 0) + 1


def _batches(total: int, size: int) -> Iterator[range]:
    for start in range(0, total, size):
        yield range(start, min(start + size, total))


def seed(plan: SeedPlan, progress: Callable[[int], None]) -> None:
    """Insert the plan's users, referrals, conversions, rewards and clicks."""
    plan.check()
    seeder = _Seeder(plan, progress)
    # End the session's read transaction: on SQLite an open reader stops WAL
    # checkpoints, and the WAL would grow by the whole seed.
    db.session.close()
    _seed_referrers(seeder)
    _seed_referred(seeder)
    _seed_clicks(seeder)
    _reset_sequences()
    _gather_statistics()


def _insert(rows_by_table: dict) -> None:
    """One transaction: each table's rows in one bulk insert, in the given order,
    and the rows counted as the mapper events would have counted them."""
    with db.engine.begin() as connection:
        for table, rows in rows_by_table.items():
            if rows:
                bulk.insert_rows(connection, table, rows)
        _count(connection, rows_by_table)


def _count(connection, rows_by_table: dict) -> None:
    """Count inserted users, referrals and rewards (written at the commit)."""
    accounts = rows_by_table.get(ReferralAccount.__table__, [])
    new_users = Counter(rollups.utc_day(row["created_at"]) for row in accounts)
    totals.pending(connection).add_users(new_users)
    referrals = rows_by_table.get(Referral.__table__, [])
    rollups.add(connection, "signups", rollups.count_by_day(referrals))
    rollups.add(
        connection,
        "conversions",
        rollups.count_by_day(referrals, "converted_at"),
    )
    reward_totals.add_rows(connection, rows_by_table.get(Reward.__table__, []))


def _seed_referrers(seeder: _Seeder) -> None:
    plan = seeder.plan
    count = seeder.first_referred - seeder.first_user
    for batch in _batches(count, plan.batch):
        rows = {
            seeder.users: [],
            ReferralAccount.__table__: [],
            ReferralCode.__table__: [],
        }
        for offset in batch:
            seeder.account_rows(rows, seeder.first_user + offset, seeder.moment(), None)
        _insert(rows)
        seeder.progress(len(batch))


def _seed_referred(seeder: _Seeder) -> None:
    """Referred users with their referral, conversion and rewards, batch by batch."""
    tables: dict = {
        seeder.users: [],
        ReferralAccount.__table__: [],
        ReferralCode.__table__: [],
        Referral.__table__: [],
        Conversion.__table__: [],
        Reward.__table__: [],
        RewardEvent.__table__: [],
    }
    for batch in _batches(seeder.plan.referrals, seeder.plan.batch):
        rows = {table: [] for table in tables}
        for index in batch:
            _referred_user(seeder, index, rows)
        _insert(rows)
        seeder.progress(len(batch))


def _referred_user(seeder: _Seeder, index: int, rows: dict) -> None:
    user_id = seeder.first_referred + index
    referral_id = seeder.first_referral + index
    referrer_id = seeder.referrer_of(index)
    created_at = seeder.moment()
    seeder.account_rows(rows, user_id, created_at, referrer_id)
    converted_at = _conversion_time(seeder, index, created_at)
    rows[Referral.__table__].append(
        {
            "id": referral_id,
            "referrer_id": referrer_id,
            "referred_id": user_id,
            "code": demo_code(referrer_id),
            "source": seeder.rng.choice(list(CaptureSource)),
            "captured_at": created_at - timedelta(minutes=5),
            "status": ReferralStatus.CONVERTED if converted_at else "signed_up",
            "converted_at": converted_at,
            "review_status": (
                ReviewStatus.FLAGGED
                if seeder.rng.random() < 0.01
                else ReviewStatus.CLEAR
            ),
            "created_at": created_at,
        }
    )
    if converted_at is not None:
        ids = (seeder.first_conversion + index, seeder.first_reward + 2 * index)
        people = (referrer_id, user_id)
        _conversion(seeder, ids, referral_id, people, converted_at, rows)


def _conversion_time(
    seeder: _Seeder, index: int, created_at: datetime
) -> datetime | None:
    """Exactly plan.conversions of the referrals convert, spread evenly at random.

    Selection sampling: referral `index` converts with probability (conversions
    still to place) / (referrals left), which places every one of them.
    """
    left = seeder.plan.referrals - index
    if seeder.rng.random() * left >= seeder.conversions_left:
        return None
    seeder.conversions_left -= 1
    return seeder.moment(after=created_at)


def _conversion(seeder, ids, referral_id, people, occurred_at, rows) -> None:
    """A purchase and its two rewards (referrer and referred), with their events."""
    conversion_id, first_reward_id = ids
    referrer_id, user_id = people
    amount = seeder.rng.choice([1999, 4999, 9900, 19900])
    rows[Conversion.__table__].append(
        {
            "id": conversion_id,
            "external_id": f"seed-{conversion_id}",
            "user_id": user_id,
            "referral_id": referral_id,
            "kind": "purchase",
            "amount_minor": amount,
            "currency": "USD",
            "occurred_at": occurred_at,
            "created_at": occurred_at,
        }
    )
    for offset, (recipient, reward_amount) in enumerate(
        ((referrer_id, 1000), (user_id, 500))
    ):
        status = seeder.rng.choices(
            list(REWARD_STATUS_WEIGHTS), weights=REWARD_STATUS_WEIGHTS.values()
        )[0]
        reward_id = first_reward_id + offset
        rows[Reward.__table__].append(
            {
                "id": reward_id,
                "user_id": recipient,
                "referral_id": referral_id,
                "kind": RewardKind.CREDIT,
                "amount_minor": reward_amount,
                "currency": "USD",
                "status": status,
                "created_at": occurred_at,
                "rule": "first-conversion",
                "source_key": f"referral:{referral_id}",
                "conversion_id": conversion_id,
                "earned_at": occurred_at,
                "hold_until": occurred_at + timedelta(days=14),
            }
        )
        rows[RewardEvent.__table__].append(
            {
                "reward_id": reward_id,
                "from_status": None,
                "to_status": status,
                "amount_minor": reward_amount,
                "currency": "USD",
                "reason": "demo data",
                "created_at": occurred_at,
            }
        )


def _seed_clicks(seeder: _Seeder) -> None:
    """Visits spread over the span, skewed like referrals, with their daily counts."""
    for batch in _batches(seeder.plan.clicks, seeder.plan.batch):
        visits = [_visit(seeder) for _ in batch]
        with db.engine.begin() as connection:
            bulk.insert_rows(connection, Visit.__table__, visits)
            rollups.add_clicks(connection, rollups.count_by_day(visits))
        seeder.progress(len(batch))


def _visit(seeder: _Seeder) -> dict:
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


def _reset_sequences() -> None:
    """On PostgreSQL, move id sequences past the ids given explicitly here."""
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
