"""Report figures as SQL aggregates: funnel, rewards, daily series, referrer pages.

Every figure is counted or summed by the database; Python only receives the totals.
Program-wide figures come from the totals per day kept on write (``daily_totals``,
``daily_reward_totals``: a few rows per day whatever the volume), a referrer's from
their daily counts (``visit_rollups``); clicks are never counted from visits. Each
function issues a fixed number of queries, whatever the amount of data. The CSV
exports are in reports/exports.py, the leaderboard in reports/leaderboard.py.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.fraud.models import VisitRollup
from referral_site.referrals.reports.models import (
    DailyRewardTotal,
    DailyTotal,
    UserRewardTotal,
)
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import (
    Referral,
    ReferralAccount,
    Reward,
    RewardStatus,
    utcnow,
)
from referral_site.referrals.storage.pagination import Page, paginate_rows
from referral_site.referrals.users import user_sql

#: Range presets of the admin report: key -> (label, days; None for all time).
PRESETS: dict[str, tuple[str, int | None]] = {
    "7d": ("Last 7 days", 7),
    "30d": ("Last 30 days", 30),
    "90d": ("Last 90 days", 90),
    "all": ("All time", None),
}
DEFAULT_RANGE = "30d"


@dataclass(frozen=True)
class DateRange:
    """A report period: from the start of a UTC day (or the beginning) until now."""

    key: str
    label: str
    start: datetime | None

    def contains(self, column) -> sa.ColumnElement[bool]:
        """A SQL condition: the timestamp column falls inside the range."""
        return sa.true() if self.start is None else column >= self.start

    def contains_day(self, column) -> sa.ColumnElement[bool]:
        """A SQL condition: the date column (a UTC day) falls inside the range."""
        return sa.true() if self.start is None else column >= self.start.date()


def date_range(key: str | None, now: datetime | None = None) -> DateRange:
    """The range for a preset key; unknown keys fall back to the default preset."""
    key = key if key in PRESETS else DEFAULT_RANGE
    label, days = PRESETS[key]
    if days is None:
        return DateRange(key, label, None)
    today = (now or utcnow()).astimezone(UTC).date()
    start = datetime.combine(today - timedelta(days=days - 1), time(), tzinfo=UTC)
    return DateRange(key, label, start)


def _share(part: int, whole: int) -> float | None:
    """part / whole as a share of a group, or None when it is not one.

    Counts of different groups (clicks before the period, signups through a typed
    code) can make part exceed whole: such a figure is not a share, so none is shown.
    """
    return part / whole if whole and part <= whole else None


@dataclass(frozen=True)
class Funnel:
    """Clicks, referred signups and conversions in a range, with their rates.

    ``conversions`` are first conversions that happened in the range, whoever made
    them; ``converted`` counts the range's signups (the cohort) who have converted
    since. Rates compare one group with itself: signups per click, and the share
    of the cohort that converted.
    """

    clicks: int
    signups: int
    conversions: int
    users: int = 0
    converted: int = 0

    @property
    def click_to_signup(self) -> float | None:
        return _share(self.signups, self.clicks)

    @property
    def signup_to_conversion(self) -> float | None:
        """The share of the range's signups who have converted."""
        return _share(self.converted, self.signups)

    @property
    def click_to_conversion(self) -> float | None:
        """Converted signups of the range per click in the range."""
        return _share(self.converted, self.clicks)


#: The daily counts, in the order the series and the funnel use them.
METRICS = ("clicks", "signups", "conversions")


def user_model():
    return current_app.extensions["referrals"].user_model


def counted(period: DateRange, name: str, table=VisitRollup):
    """SUM of one daily count (clicks, signups, conversions); 0 when none."""
    return sa.func.coalesce(sa.func.sum(getattr(table, name)), 0).label(name)


def funnel(period: DateRange, referrer_id: int | None = None) -> Funnel:
    """The funnel of the whole program (with new users), or of one referrer."""
    if referrer_id is None:
        names, source = ("users", *METRICS), DailyTotal
        query = sa.select(*(counted(period, name, DailyTotal) for name in names))
    else:
        names, source = METRICS, VisitRollup
        query = sa.select(*(counted(period, name) for name in names)).where(
            VisitRollup.referrer_id == referrer_id
        )
    row = db.session.execute(query.where(period.contains_day(source.day))).one()
    counts = {name: int(value) for name, value in zip(names, row, strict=True)}
    # All time, every conversion is one of the signups': the kept counts say it.
    converted = counts["conversions"]
    if period.start is not None:
        converted = converted_cohort(period, referrer_id)
    return Funnel(**counts, converted=converted)


def converted_cohort(period: DateRange, referrer_id: int | None = None) -> int:
    """How many referrals made in the range have converted (at any time since).

    Read from an index: for the program ix_referrals_created_where_converted
    (created_at of the converted referrals only; SQLite's planner prefers the
    covering ix_referrals_created_converted), for one referrer
    ix_referrals_referrer_created (referrer_id, created_at).
    """
    query = sa.select(sa.func.count()).where(
        period.contains(Referral.created_at), Referral.converted_at.is_not(None)
    )
    if referrer_id is not None:
        query = query.where(Referral.referrer_id == referrer_id)
    return int(db.session.scalar(query))


#: The statuses of a reward the program owes or has paid, in the reports' order.
OWED_OR_PAID = (
    RewardStatus.PENDING,
    RewardStatus.REVIEW,
    RewardStatus.APPROVED,
    RewardStatus.PAID,
)


@dataclass
class CurrencyTotals:
    """Reward counts and sums (minor units) per status, for one currency."""

    currency: str
    amounts: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def amount(self, status: str) -> int:
        return self.amounts.get(status, 0)

    def count(self, status: str) -> int:
        return self.counts.get(status, 0)

    @property
    def total(self) -> int:
        """What the program owes or has paid: pending, in review, approved, paid.

        Rejected and reversed rewards are owed to nobody; a clawback (a negative
        approved reward) lowers the total as it lowers what is owed.
        """
        return sum(self.amount(status) for status in OWED_OR_PAID)


def rewards_by_status(
    period: DateRange | None = None, user_id: int | None = None
) -> list[CurrencyTotals]:
    """Reward totals grouped by currency and status (one query), by currency.

    They come from the totals kept on write (a few rows per day, or per user all
    time), except a user's in a date range: from the rewards table, through its
    user index.
    """
    if period is not None and period.start is None:
        period = None  # all time
    if user_id is None:
        query = _totals_by_status(DailyRewardTotal)
        if period is not None:
            query = query.where(period.contains_day(DailyRewardTotal.day))
    elif period is None:
        query = _totals_by_status(UserRewardTotal).where(
            UserRewardTotal.user_id == user_id
        )
    else:
        query = (
            sa.select(
                Reward.currency,
                Reward.status,
                sa.func.count(Reward.id),
                sa.func.coalesce(sa.func.sum(Reward.amount_minor), 0),
            )
            .where(Reward.user_id == user_id, period.contains(Reward.created_at))
            .group_by(Reward.currency, Reward.status)
        )
    by_currency: dict[str, CurrencyTotals] = {}
    for currency, status, count, amount in db.session.execute(query):
        totals = by_currency.setdefault(currency, CurrencyTotals(currency))
        totals.counts[str(status)] = int(count)
        totals.amounts[str(status)] = int(amount)
    return [by_currency[c] for c in sorted(by_currency)]


def _totals_by_status(totals) -> sa.Select:
    """Rewards by currency and status, summed from a table of reward totals."""
    return (
        sa.select(
            totals.currency,
            totals.status,
            sa.func.sum(totals.rewards),
            sa.func.sum(totals.amount_minor),
        )
        .group_by(totals.currency, totals.status)
        # Rewards that moved to another status leave zeros behind.
        .having(sa.func.sum(totals.rewards) != 0)
    )


@dataclass(frozen=True)
class DailySeries:
    """Clicks, signups and conversions per UTC day, zero-filled."""

    days: list[date]
    clicks: list[int]
    signups: list[int]
    conversions: list[int]

    @property
    def rows_newest_first(self) -> list[tuple[date, int, int, int]]:
        """(day, clicks, signups, conversions) per day, for a table."""
        rows = zip(self.days, self.clicks, self.signups, self.conversions, strict=True)
        return list(rows)[::-1]


def _any_count():
    return DailyTotal.clicks + DailyTotal.signups + DailyTotal.conversions


def daily_series(period: DateRange, today: date | None = None) -> DailySeries:
    """Per-day counts over the range, from the program's day totals, in one query."""
    query = (
        sa.select(
            DailyTotal.day,
            *(sa.func.sum(getattr(DailyTotal, name)) for name in METRICS),
        )
        .where(period.contains_day(DailyTotal.day))
        .group_by(DailyTotal.day)
        .having(sa.func.sum(_any_count()) > 0)
    )
    counts: dict[date, tuple[int, ...]] = {
        date.fromisoformat(str(day)[:10]): tuple(int(n) for n in figures)
        for day, *figures in db.session.execute(query)
    }
    today = today or utcnow().date()
    first = period.start.date() if period.start else min(counts, default=today)
    days = [first + timedelta(days=i) for i in range((today - first).days + 1)]
    return DailySeries(
        days=days,
        **{
            metric: [counts.get(d, (0, 0, 0))[n] for d in days]
            for n, metric in enumerate(METRICS)
        },
    )


def referrer(user_id: int):
    """The referrer shown on an admin's per-referrer page, or None."""
    User = user_model()
    user = user_sql(User)
    return db.session.execute(
        sa.select(
            user.id,
            user.name,
            user.email,
            ReferralAccount.code.label("referral_code"),
            ReferralAccount.created_at,
        )
        .join(ReferralAccount, ReferralAccount.user_id == user.id)
        .where(user.id == user_id)
    ).first()


def referred_by(user_id):
    """Who referred this person (id and name), or None."""
    User = user_model()
    user = user_sql(User)
    return db.session.execute(
        sa.select(user.id, user.name)
        .join(ReferralAccount, ReferralAccount.referred_by_id == user.id)
        .where(ReferralAccount.user_id == user_id)
    ).first()


def referrals_page(
    period: DateRange, referrer_id: int, page: int, per_page: int
) -> Page:
    """One page of a referrer's referrals made in the range, newest first."""
    User = user_model()
    user = user_sql(User)
    query = (
        sa.select(
            Referral.id,
            Referral.referred_id,
            user.name,
            user.email,
            Referral.source,
            Referral.status,
            Referral.review_status,
            Referral.created_at,
            Referral.converted_at,
        )
        .join(User, user.id == Referral.referred_id)
        .where(
            Referral.referrer_id == referrer_id,
            period.contains(Referral.created_at),
        )
        .order_by(Referral.created_at.desc(), Referral.id.desc())
    )
    return paginate_rows(query, page, per_page)
