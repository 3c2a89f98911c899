"""Tables the admin report reads instead of summing every referrer's daily counts.

Kept on write, in the transaction that changes what they count (see
storage/totals.py and rewards/totals.py): program-wide figures per UTC day, each
referrer's all-time counts and how many referrers have any activity, each user's
rewards. Kept by a periodic job (reports/rankings.py): the leaderboard of each range
preset, ranked, with the referrers' rewards in the range, as of the last run.
"""

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from referral_site.referrals.storage.db import Base, user_key
from referral_site.referrals.storage.models import (
    RewardStatus,
    UTCDateTime,
    _enum,
)


def _count() -> Mapped[int]:
    return mapped_column(default=0, server_default="0")


class DailyTotal(Base):
    """Program-wide counts per UTC day: new users, clicks, signups, conversions.

    Each day is split over a few rows (``slot``, one per writing connection, see
    storage/totals.py), so concurrent transactions do not queue on one row; readers
    sum them.
    """

    __tablename__ = "daily_totals"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    slot: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    #: Accounts created that day (deleted accounts stay counted, like their rows).
    users: Mapped[int] = _count()
    clicks: Mapped[int] = _count()
    #: Referrals created that day.
    signups: Mapped[int] = _count()
    #: Referrals that converted that day (status converted, by converted_at).
    conversions: Mapped[int] = _count()


class DailyRewardTotal(Base):
    """Program-wide rewards per UTC day of creation, currency and current status."""

    __tablename__ = "daily_reward_totals"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    currency: Mapped[str] = mapped_column(sa.String(3), primary_key=True)
    status: Mapped[RewardStatus] = mapped_column(
        _enum(RewardStatus, "status"), primary_key=True
    )
    slot: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    rewards: Mapped[int] = _count()
    amount_minor: Mapped[int] = mapped_column(
        sa.BigInteger, default=0, server_default="0"
    )


class UserRewardTotal(Base):
    """One user's rewards (count and sum) per currency and current status, all time.

    The all-time leaderboard sums the non-rejected ones of the referrers on a page.
    """

    __tablename__ = "user_reward_totals"

    user_id: Mapped[int] = user_key("CASCADE", primary_key=True, autoincrement=False)
    currency: Mapped[str] = mapped_column(sa.String(3), primary_key=True)
    status: Mapped[RewardStatus] = mapped_column(
        _enum(RewardStatus, "status"), primary_key=True
    )
    rewards: Mapped[int] = _count()
    amount_minor: Mapped[int] = mapped_column(
        sa.BigInteger, default=0, server_default="0"
    )


class ReferrerTotal(Base):
    """One referrer's all-time clicks, signups and conversions.

    The index is the all-time leaderboard's order, so a page of it is an index scan.
    """

    __tablename__ = "referrer_totals"

    referrer_id: Mapped[int] = user_key(
        "CASCADE", primary_key=True, autoincrement=False
    )
    clicks: Mapped[int] = _count()
    signups: Mapped[int] = _count()
    conversions: Mapped[int] = _count()


sa.Index(
    "ix_referrer_totals_rank",
    ReferrerTotal.signups.desc(),
    ReferrerTotal.conversions.desc(),
    ReferrerTotal.clicks.desc(),
    ReferrerTotal.referrer_id,
)


class ActiveReferrers(Base):
    """How many referrers have a click or a referred signup, all time (summed slots)."""

    __tablename__ = "active_referrers"

    slot: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    referrers: Mapped[int] = _count()


class RankingSnapshot(Base):
    """One run of the leaderboard job for one range preset."""

    __tablename__ = "ranking_snapshots"
    __table_args__ = (sa.Index("ix_ranking_snapshots_range", "range_key", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The preset's key in reports.PRESETS ("7d", "30d", "90d").
    range_key: Mapped[str] = mapped_column(sa.String(8))
    #: The first UTC day counted.
    starts_on: Mapped[date] = mapped_column(sa.Date)
    #: When the counts were read: the figures are as of this moment.
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Referrers ranked; None while the job is still writing the ranks.
    referrers: Mapped[int | None]


class RankedReferrer(Base):
    """A referrer's place and counts in one snapshot."""

    __tablename__ = "ranked_referrers"

    snapshot_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ranking_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    rank: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    referrer_id: Mapped[int] = user_key("CASCADE", index=True)
    clicks: Mapped[int]
    signups: Mapped[int]
    conversions: Mapped[int]


class RankedReward(Base):
    """A ranked referrer's non-rejected rewards created in the snapshot's range."""

    __tablename__ = "ranked_rewards"

    snapshot_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ranking_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    referrer_id: Mapped[int] = user_key(
        "CASCADE", primary_key=True, autoincrement=False, index=True
    )
    currency: Mapped[str] = mapped_column(sa.String(3), primary_key=True)
    rewards: Mapped[int]
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
