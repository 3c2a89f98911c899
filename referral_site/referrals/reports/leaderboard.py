"""The admin report's leaderboard: referrers ranked by signups in a date range.

The ranking is read from where a page of it costs the same whatever the number of
referrers, clicks or rewards:

- all time: each referrer's totals kept on write (``referrer_totals``), exact, read
  in the order of their ranking index; the number of active referrers and each
  user's rewards are kept on write too (``active_referrers``,
  ``user_reward_totals``).
- a range preset (7, 30, 90 days): the latest snapshot of the periodic job
  (reports/rankings.py, ``flask referrals refresh-leaderboards``), ranks and rewards
  stored: the figures are as of when it ran, and the page says so.
- a preset the job has not ranked yet: counted now from the daily counts per
  referrer and the rewards table, exact, with work that grows with the referrers,
  days and rewards in the range.

A page is three queries at most: the snapshot, the count unless the snapshot has
it, and the rows.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import sqlalchemy as sa

from referral_site.referrals.fraud.models import VisitRollup
from referral_site.referrals.reports.figures import (
    METRICS,
    DateRange,
    counted,
    user_model,
)
from referral_site.referrals.reports.models import (
    ActiveReferrers,
    RankedReferrer,
    RankedReward,
    RankingSnapshot,
    ReferrerTotal,
    UserRewardTotal,
)
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import ReferralAccount, Reward, RewardStatus
from referral_site.referrals.storage.pagination import Page, page_within
from referral_site.referrals.users import user_sql


@dataclass(frozen=True)
class Ranking:
    """A range's ranked referrers, where they come from and as of when."""

    #: Referrer id and counts (id, clicks, signups, conversions), best first.
    counts: sa.Select
    #: How many referrers are ranked: a number, or a query that counts them.
    total: int | sa.Select
    #: Given a query of referrer ids, their non-rejected rewards created in the
    #: range, per currency: (user_id, currency, n, amount).
    rewards: Callable[[sa.Select], sa.Select]
    #: When the figures were read; None when they are counted as of now.
    as_of: datetime | None = None


def ranking(period: DateRange) -> Ranking:
    """Where the range's leaderboard is read from (one query for a preset)."""
    if period.start is None:
        return _all_time()
    snapshot = latest_snapshot(period.key)
    if snapshot is None:
        counts = live_counts(period)
        count = sa.select(sa.func.count()).select_from(counts.order_by(None).subquery())
        return Ranking(counts, count, partial(live_rewards, period))
    return Ranking(
        _snapshot_counts(snapshot.id),
        snapshot.referrers,
        partial(_snapshot_rewards, snapshot.id),
        snapshot.taken_at,
    )


def latest_snapshot(range_key: str):
    """The last complete snapshot of a preset (id, taken_at, referrers), or None."""
    snapshots = RankingSnapshot
    return db.session.execute(
        sa.select(snapshots.id, snapshots.taken_at, snapshots.referrers)
        .where(snapshots.range_key == range_key, snapshots.referrers.is_not(None))
        .order_by(snapshots.id.desc())
        .limit(1)
    ).first()


def _best_first(referrer_id, clicks, signups, conversions) -> list:
    """The leaderboard's order: signups, then conversions, then clicks, then id."""
    return [signups.desc(), conversions.desc(), clicks.desc(), referrer_id.asc()]


def _all_time() -> Ranking:
    totals = ReferrerTotal
    columns = (totals.referrer_id, totals.clicks, totals.signups, totals.conversions)
    counts = (
        sa.select(totals.referrer_id.label("id"), *columns[1:])
        .where(sa.or_(totals.signups > 0, totals.clicks > 0))
        # The order of ix_referrer_totals_rank: a page is an index scan.
        .order_by(*_best_first(*columns))
    )
    active = sa.select(sa.func.coalesce(sa.func.sum(ActiveReferrers.referrers), 0))
    return Ranking(counts, active, _all_time_rewards)


def _snapshot_counts(snapshot_id: int) -> sa.Select:
    ranked = RankedReferrer
    return (
        sa.select(
            ranked.referrer_id.label("id"),
            ranked.clicks,
            ranked.signups,
            ranked.conversions,
        )
        .where(ranked.snapshot_id == snapshot_id)
        .order_by(ranked.rank)
    )


def live_counts(period: DateRange) -> sa.Select:
    """Referrers with clicks or signups in the range, best first, summed now."""
    rollups = VisitRollup
    sums = [counted(period, name) for name in METRICS]
    return (
        sa.select(rollups.referrer_id.label("id"), *sums)
        .where(period.contains_day(rollups.day))
        .group_by(rollups.referrer_id)
        .having(
            sa.or_(sa.func.sum(rollups.signups) > 0, sa.func.sum(rollups.clicks) > 0)
        )
        .order_by(*_best_first(rollups.referrer_id, *sums))
    )


def live_rewards(period: DateRange, ids: sa.Select) -> sa.Select:
    """Per user and currency, the non-rejected rewards of `ids` created in the range,
    summed now from the rewards table (through its user index)."""
    return (
        sa.select(
            Reward.user_id,
            Reward.currency,
            sa.func.count(Reward.id).label("n"),
            sa.func.sum(Reward.amount_minor).label("amount"),
        )
        .where(
            Reward.user_id.in_(ids),
            Reward.status != RewardStatus.REJECTED,
            period.contains(Reward.created_at),
        )
        .group_by(Reward.user_id, Reward.currency)
    )


def _all_time_rewards(ids: sa.Select) -> sa.Select:
    """Summed from the users' totals: a few rows per user."""
    totals = UserRewardTotal
    return (
        sa.select(
            totals.user_id,
            totals.currency,
            sa.func.sum(totals.rewards).label("n"),
            sa.func.sum(totals.amount_minor).label("amount"),
        )
        .where(totals.user_id.in_(ids), totals.status != RewardStatus.REJECTED)
        .group_by(totals.user_id, totals.currency)
        # Rewards that moved to another status leave zeros behind.
        .having(sa.func.sum(totals.rewards) != 0)
    )


def _snapshot_rewards(snapshot_id: int, ids: sa.Select) -> sa.Select:
    """As the ranking job summed them."""
    ranked = RankedReward
    return sa.select(
        ranked.referrer_id.label("user_id"),
        ranked.currency,
        ranked.rewards.label("n"),
        ranked.amount_minor.label("amount"),
    ).where(ranked.snapshot_id == snapshot_id, ranked.referrer_id.in_(ids))


def _leaders(counts: sa.Subquery, rewards_of: Callable) -> sa.Select:
    """The ranked counts, best first, with each referrer's name, email and code and
    their rewards (count, and "USD:1000,EUR:500"), only for the referrers in
    `counts` (a page of them, for the report)."""
    User = user_model()
    user = user_sql(User)
    per_currency = rewards_of(sa.select(counts.c.id)).subquery()
    rewards = (
        sa.select(
            per_currency.c.user_id,
            sa.func.sum(per_currency.c.n).label("n"),
            sa.func.aggregate_strings(
                per_currency.c.currency
                + ":"
                + sa.cast(per_currency.c.amount, sa.String),
                ",",
            ).label("totals"),
        )
        .group_by(per_currency.c.user_id)
        .subquery()
    )
    return (
        sa.select(
            user.id,
            user.name,
            user.email,
            ReferralAccount.code.label("referral_code"),
            counts.c.clicks,
            counts.c.signups,
            counts.c.conversions,
            sa.func.coalesce(rewards.c.n, 0).label("rewards"),
            rewards.c.totals.label("reward_totals"),
        )
        .join(User, user.id == counts.c.id)
        .join(ReferralAccount, ReferralAccount.user_id == counts.c.id)
        .outerjoin(rewards, rewards.c.user_id == counts.c.id)
        .order_by(
            *_best_first(
                counts.c.id, counts.c.clicks, counts.c.signups, counts.c.conversions
            )
        )
    )


def leaderboard_query(period: DateRange) -> sa.Select:
    """The whole leaderboard of the range, best first, with rewards."""
    source = ranking(period)
    return _leaders(source.counts.subquery(), source.rewards)


@dataclass(frozen=True)
class LeaderRow:
    """One referrer on the leaderboard."""

    rank: int
    id: int
    name: str
    email: str
    referral_code: str
    clicks: int
    signups: int
    conversions: int
    rewards: int
    #: Non-rejected reward sums as (currency, minor units), by currency.
    reward_totals: list[tuple[str, int]]


def _parse_totals(raw: str | None) -> list[tuple[str, int]]:
    """Read "USD:1000,EUR:500" (built by the query) into sorted pairs."""
    pairs = (item.split(":", 1) for item in (raw or "").split(",") if item)
    return sorted((currency, int(amount)) for currency, amount in pairs)


def leader(rank: int, row) -> LeaderRow:
    return LeaderRow(
        rank=rank,
        id=row.id,
        name=row.name,
        email=row.email,
        referral_code=row.referral_code,
        clicks=row.clicks,
        signups=row.signups,
        conversions=row.conversions,
        rewards=int(row.rewards),
        reward_totals=_parse_totals(row.reward_totals),
    )


@dataclass(frozen=True)
class LeaderboardPage(Page):
    """A page of the leaderboard, and when its counts were read (None: now)."""

    as_of: datetime | None = None


def leaderboard_page(period: DateRange, page: int, per_page: int) -> LeaderboardPage:
    """One page of the leaderboard (three queries at most, whatever the data)."""
    source = ranking(period)
    total = source.total
    if not isinstance(total, int):
        total = int(db.session.scalar(total))
    page = page_within(page, total, per_page)
    first = (page - 1) * per_page
    counts = source.counts.limit(per_page).offset(first).subquery()
    rows = db.session.execute(_leaders(counts, source.rewards))
    return LeaderboardPage(
        items=[leader(first + 1 + i, row) for i, row in enumerate(rows)],
        page=page,
        per_page=per_page,
        total=total,
        as_of=source.as_of,
    )
