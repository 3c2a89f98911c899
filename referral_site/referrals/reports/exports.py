"""CSV exports of the admin report: a header row, then rows streamed in batches.

Each generator reads from the database with ``yield_per`` so a large export never
sits in memory; reports/views.py encodes the rows as they come.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa

from referral_site.referrals.reports.figures import DateRange, user_model
from referral_site.referrals.reports.leaderboard import leader, leaderboard_query
from referral_site.referrals.rewards.money import format_plain
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import (
    Conversion,
    Referral,
    Reward,
    RewardEvent,
    RewardStatus,
)
from referral_site.referrals.users import user_sql

#: The statuses the rewards export can be narrowed to (?status=).
REWARD_STATUSES = frozenset(status.value for status in RewardStatus)
#: Rows fetched per round trip while streaming a CSV export.
STREAM_BATCH = 500


def _stream(query: sa.Select) -> Iterator:
    yield from db.session.execute(query.execution_options(yield_per=STREAM_BATCH))


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def referral_rows(period: DateRange) -> Iterator[list]:
    """CSV rows of the referrals made in the range."""
    User = user_model()
    Referrer = sa.orm.aliased(User)
    referrer_cols = user_sql(Referrer)
    user = user_sql(User)
    yield [
        "referral_id", "created_at", "referrer_id", "referrer_email", "code",
        "referred_name", "referred_email", "source", "status", "review_status",
        "converted_at",
    ]  # fmt: skip
    query = (
        sa.select(
            Referral,
            referrer_cols.email,
            user.name,
            user.email,
        )
        .join(Referrer, referrer_cols.id == Referral.referrer_id)
        .join(User, user.id == Referral.referred_id)
        .where(period.contains(Referral.created_at))
        .order_by(Referral.created_at, Referral.id)
    )
    for ref, referrer_email, name, email in _stream(query):
        yield [
            ref.id, _iso(ref.created_at), ref.referrer_id, referrer_email, ref.code,
            name, email, ref.source.value, ref.status.value, ref.review_status.value,
            _iso(ref.converted_at),
        ]  # fmt: skip


def reward_rows(period: DateRange, status: str | None = None) -> Iterator[list]:
    """CSV rows of the rewards created in the range, in one status if given."""
    User = user_model()
    user = user_sql(User)
    yield [
        "reward_id", "created_at", "user_id", "user_email", "referral_id", "rule",
        "conversion_external_id", "kind", "status", "currency", "amount",
        "amount_minor", "hold_until", "paid_at",
    ]  # fmt: skip
    paid_at = (
        sa.select(sa.func.max(RewardEvent.created_at))
        .where(
            RewardEvent.reward_id == Reward.id,
            RewardEvent.to_status == RewardStatus.PAID,
        )
        .scalar_subquery()
    )
    query = (
        sa.select(Reward, user.email, Conversion.external_id, paid_at.label("paid_at"))
        .join(User, user.id == Reward.user_id)
        .outerjoin(Conversion, Conversion.id == Reward.conversion_id)
        .where(period.contains(Reward.created_at))
        .order_by(Reward.created_at, Reward.id)
    )
    if status in REWARD_STATUSES:
        query = query.where(Reward.status == RewardStatus(status))
    for reward, email, external_id, paid in _stream(query):
        yield [
            reward.id, _iso(reward.created_at), reward.user_id, email,
            reward.referral_id or "", reward.rule, external_id or "",
            reward.kind.value, reward.status.value, reward.currency,
            format_plain(reward.amount_minor, reward.currency), reward.amount_minor,
            _iso(reward.hold_until), _iso(_utc(paid)),
        ]  # fmt: skip


def _utc(value):
    """A timestamp from an aggregate (SQLite gives it naive or as text) in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def leaderboard_rows(period: DateRange) -> Iterator[list]:
    """CSV rows of the whole leaderboard for the range, in rank order."""
    yield [
        "rank", "referrer_id", "name", "email", "code", "clicks", "signups",
        "conversions", "rewards", "reward_totals",
    ]  # fmt: skip
    for rank, row in enumerate(_stream(leaderboard_query(period)), start=1):
        row_leader = leader(rank, row)
        totals = " ".join(
            f"{c} {format_plain(a, c)}" for c, a in row_leader.reward_totals
        )
        yield [
            rank, row_leader.id, row_leader.name, row_leader.email,
            row_leader.referral_code, row_leader.clicks, row_leader.signups,
            row_leader.conversions, row_leader.rewards, totals,
        ]  # fmt: skip


#: Export kinds offered at /admin/export/<kind>.csv.
EXPORTS = {
    "referrals": referral_rows,
    "rewards": reward_rows,
    "leaderboard": leaderboard_rows,
}
