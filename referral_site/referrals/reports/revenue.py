"""Referred revenue against reward cost, per currency, for a range or one referrer.

Revenue is what referred users' conversions brought in (those with a referral),
net of refunds: a refunded conversion counts in ``refunded`` and not in ``net``.
Cost is the rewards granted in the range that were not rejected or reversed, both
sides of each referral, net of clawbacks (negative adjustments): what the program
pays or owes. Each is money in integer minor units of its currency; the ratio is
only defined within one currency, never across.
"""

from dataclasses import dataclass

import sqlalchemy as sa

from referral_site.referrals.reports.figures import CurrencyTotals, DateRange
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import (
    Conversion,
    Referral,
    Reward,
    RewardStatus,
)

#: Reward statuses that cost the program something (owed, paid or deciding).
COSTING = (
    RewardStatus.PENDING,
    RewardStatus.REVIEW,
    RewardStatus.APPROVED,
    RewardStatus.PAID,
)


@dataclass(frozen=True)
class Revenue:
    """One currency's referred revenue and reward cost."""

    currency: str
    conversions: int = 0
    gross: int = 0
    refunded: int = 0
    cost: int = 0

    @property
    def net(self) -> int:
        """Revenue net of refunds."""
        return self.gross - self.refunded

    @property
    def cost_ratio(self) -> float | None:
        """Reward cost per unit of net revenue; None without revenue."""
        return self.cost / self.net if self.net > 0 else None


def program_revenue(period: DateRange, reward_totals: list[CurrencyTotals]):
    """The whole program's revenue in a range; the cost from the reward totals the
    report already read (rewards_by_status), so it costs one query."""
    cost = {
        totals.currency: sum(totals.amount(status.value) for status in COSTING)
        for totals in reward_totals
    }
    query = _conversions().where(Conversion.referral_id.is_not(None))
    return _merge(
        db.session.execute(query.where(period.contains(Conversion.occurred_at))), cost
    )


def referrer_revenue(period: DateRange, referrer_id) -> list[Revenue]:
    """The revenue and reward cost of one referrer's referrals in a range."""
    conversions = (
        _conversions()
        .join(Referral, Referral.id == Conversion.referral_id)
        .where(Referral.referrer_id == referrer_id)
        .where(period.contains(Conversion.occurred_at))
    )
    cost_rows = db.session.execute(
        sa.select(Reward.currency, sa.func.sum(Reward.amount_minor))
        .join(Referral, Referral.id == Reward.referral_id)
        .where(
            Referral.referrer_id == referrer_id,
            Reward.status.in_(COSTING),
            period.contains(Reward.created_at),
        )
        .group_by(Reward.currency)
    )
    cost = {currency: int(amount) for currency, amount in cost_rows}
    return _merge(db.session.execute(conversions), cost)


def _conversions() -> sa.Select:
    refunded = Conversion.refunded_at.is_not(None)
    return sa.select(
        Conversion.currency,
        sa.func.count(Conversion.id),
        sa.func.coalesce(sa.func.sum(Conversion.amount_minor), 0),
        sa.func.coalesce(
            sa.func.sum(sa.case((refunded, Conversion.amount_minor), else_=0)), 0
        ),
    ).group_by(Conversion.currency)


def _merge(conversion_rows, cost: dict[str, int]) -> list[Revenue]:
    """One Revenue per currency seen in either side, by currency code."""
    revenue = {
        currency: (int(count), int(gross), int(refunded))
        for currency, count, gross, refunded in conversion_rows
    }
    return [
        Revenue(currency, *revenue.get(currency, (0, 0, 0)), cost=cost.get(currency, 0))
        for currency in sorted(revenue.keys() | cost.keys())
    ]
