"""The admin report's leaderboard: referrers ranked by signups in a date range.

One query ranks every referrer with clicks or signups in the range, from the daily
counts (rewards from the rewards table); a page of it is two queries (the count
and the rows), and the CSV export streams the same query.
"""

from dataclasses import dataclass

import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.fraud_models import VisitRollup
from referral_site.referrals.models import (
    Reward,
    RewardStatus,
)
from referral_site.referrals.pagination import Page
from referral_site.referrals.reports import METRICS, DateRange, counted, user_model


def _counts(period: DateRange):
    """Clicks, signups and conversions per referrer with clicks or signups."""
    return (
        sa.select(
            VisitRollup.referrer_id.label("user_id"),
            *(counted(period, name) for name in METRICS),
        )
        .where(period.contains_day(VisitRollup.day))
        .group_by(VisitRollup.referrer_id)
        .having(
            sa.or_(
                sa.func.sum(VisitRollup.signups) > 0,
                sa.func.sum(VisitRollup.clicks) > 0,
            )
        )
        .subquery()
    )


def _ranking(period: DateRange) -> sa.Select:
    """Referrers with clicks or signups in the range, best first (no rewards yet)."""
    User = user_model()
    counts = _counts(period)
    return (
        sa.select(
            User.id,
            User.name,
            User.email,
            User.referral_code,
            counts.c.clicks,
            counts.c.signups,
            counts.c.conversions,
        )
        .join(counts, counts.c.user_id == User.id)
        .order_by(
            counts.c.signups.desc(),
            counts.c.conversions.desc(),
            counts.c.clicks.desc(),
            User.id.asc(),
        )
    )


def _with_rewards(ranked: sa.Subquery, period: DateRange) -> sa.Select:
    """The ranked rows, in order, with their non-rejected rewards in the range.

    Rewards are summed only for the referrers in `ranked` (a page of them, for the
    report), through the rewards' user index, not for every user.
    """
    per_currency = (
        sa.select(
            Reward.user_id,
            Reward.currency,
            sa.func.count(Reward.id).label("n"),
            sa.func.sum(Reward.amount_minor).label("amount"),
        )
        .where(
            Reward.user_id.in_(sa.select(ranked.c.id)),
            Reward.status != RewardStatus.REJECTED,
            period.contains(Reward.created_at),
        )
        .group_by(Reward.user_id, Reward.currency)
        .subquery()
    )
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
            *ranked.c,
            sa.func.coalesce(rewards.c.n, 0).label("rewards"),
            rewards.c.totals.label("reward_totals"),
        )
        .outerjoin(rewards, rewards.c.user_id == ranked.c.id)
        .order_by(
            ranked.c.signups.desc(),
            ranked.c.conversions.desc(),
            ranked.c.clicks.desc(),
            ranked.c.id.asc(),
        )
    )


def leaderboard_query(period: DateRange) -> sa.Select:
    """The whole leaderboard of the range, best first, with rewards."""
    return _with_rewards(_ranking(period).subquery(), period)


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


def leaderboard_page(period: DateRange, page: int, per_page: int) -> Page:
    """One page of the leaderboard (two queries: the count and the page)."""
    page = max(1, page)
    # Every ranked referrer is a user: counting the referrers alone is enough.
    total = db.session.scalar(sa.select(sa.func.count()).select_from(_counts(period)))
    ranked = _ranking(period).limit(per_page).offset((page - 1) * per_page).subquery()
    rows = db.session.execute(_with_rewards(ranked, period))
    first = (page - 1) * per_page + 1
    items = [leader(first + i, row) for i, row in enumerate(rows)]
    return Page(items=items, page=page, per_page=per_page, total=total)
