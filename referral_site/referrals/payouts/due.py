"""What is due: approved rewards not yet in a payout, netted per person and currency.

Negative amounts (clawbacks of paid rewards, an admin's deductions) are part of the
net, so what a refund took back after a payout comes off the next one. A positive
reward whose payment is disputed, or whose referral is flagged, waits until that is
settled: paying it takes an admin's decision on the reward itself.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.payouts.models import (
    PayoutAccount,
    PayoutItem,
    PayoutMethod,
)
from referral_site.referrals.payouts.settings import PAYOUT_KINDS, minimum_for
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import (
    Conversion,
    Referral,
    ReviewStatus,
    Reward,
    RewardStatus,
)
from referral_site.referrals.users import user_sql


def in_open_payout():
    """SQL: the reward is held by a payout item (an open or paid line)."""
    return (
        sa.select(PayoutItem.id)
        .where(PayoutItem.reward_id == Reward.id, PayoutItem.released_at.is_(None))
        .exists()
    )


def _waiting():
    """SQL: a positive reward whose payment is disputed or whose referral is
    flagged (negative ones always count: they only lower what is paid)."""
    held = (
        sa.select(Conversion.id)
        .where(
            Conversion.id == Reward.conversion_id, Conversion.held_reason.is_not(None)
        )
        .exists()
    )
    flagged = (
        sa.select(Referral.id)
        .where(
            Referral.id == Reward.referral_id,
            Referral.review_status == ReviewStatus.FLAGGED,
        )
        .exists()
    )
    return sa.and_(Reward.amount_minor > 0, sa.or_(held, flagged))


def due_rewards(keys: list[tuple] | None = None) -> sa.Select:
    """SQL: (id, user_id, currency, amount_minor) of every reward due for payout,
    optionally of some (user id, currency) pairs only."""
    store_credit = (
        sa.select(PayoutAccount.user_id)
        .where(
            PayoutAccount.user_id == Reward.user_id,
            PayoutAccount.method == PayoutMethod.STORE_CREDIT,
        )
        .exists()
    )
    query = sa.select(
        Reward.id, Reward.user_id, Reward.currency, Reward.amount_minor
    ).where(
        Reward.status == RewardStatus.APPROVED,
        Reward.kind.in_(PAYOUT_KINDS),
        ~in_open_payout(),
        ~store_credit,
        ~_waiting(),
    )
    if keys is not None:
        query = query.where(sa.tuple_(Reward.user_id, Reward.currency).in_(keys))
    return query


@dataclass(frozen=True)
class Due:
    """What one person is owed in one currency, and whether it can be paid now."""

    user_id: object
    name: str
    email: str
    currency: str
    amount_minor: int
    rewards: int
    minimum: int
    paypal_email: str | None

    @property
    def missing_details(self) -> bool:
        return self.paypal_email is None

    @property
    def payable_from(self) -> int:
        """The least amount paid out: the minimum, and never nothing."""
        return max(self.minimum, 1)

    @property
    def below_minimum(self) -> bool:
        return self.amount_minor < self.payable_from

    @property
    def payable(self) -> bool:
        return not self.missing_details and not self.below_minimum

    @property
    def key(self) -> str:
        """The pair as a form value: "<user id>:<currency>"."""
        return f"{self.user_id}:{self.currency}"


def due_list(user_id=None) -> list[Due]:
    """What is due per person and currency (everyone, or one person), largest first."""
    User = current_app.extensions["referrals"].user_model
    user = user_sql(User)
    due = due_rewards().subquery()
    query = (
        sa.select(
            due.c.user_id,
            user.name,
            user.email,
            due.c.currency,
            sa.func.sum(due.c.amount_minor).label("amount"),
            sa.func.count().label("rewards"),
            PayoutAccount.paypal_email,
        )
        .join(User, user.id == due.c.user_id)
        .outerjoin(PayoutAccount, PayoutAccount.user_id == due.c.user_id)
        .group_by(
            due.c.user_id,
            user.name,
            user.email,
            due.c.currency,
            PayoutAccount.paypal_email,
        )  # fmt: skip
        .order_by(sa.desc("amount"), due.c.user_id, due.c.currency)
    )
    if user_id is not None:
        query = query.where(due.c.user_id == user_id)
    return [
        Due(
            user_id=row.user_id,
            name=row.name or "",
            email=row.email or "",
            currency=row.currency,
            amount_minor=int(row.amount),
            rewards=row.rewards,
            minimum=minimum_for(row.currency),
            paypal_email=row.paypal_email,
        )
        for row in db.session.execute(query)
    ]
