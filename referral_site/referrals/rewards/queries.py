"""Reads of rewards: a user's rewards and balances, the admin queue, one history.

Every change of a reward is an entry in the append-only reward_events, which moves
its amount out of one status and into another. A user's balances are those moves
summed: kept as they happen in ``user_reward_totals``, in the transaction that
writes each entry (rewards/totals.py), and never edited otherwise, so the user's page
reads a few rows however long the history. The state machine test checks after
every step that they equal the sums of the history itself.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from referral_site.referrals.reports import figures as reports
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import (
    Conversion,
    Referral,
    Reward,
    RewardEvent,
    RewardStatus,
)
from referral_site.referrals.storage.pagination import Page, paginate_rows
from referral_site.referrals.users import user_sql

#: Statuses an admin can filter the queue by ("all" shows every reward).
QUEUE_FILTERS = ("all",) + tuple(status.value for status in RewardStatus)


@dataclass(frozen=True)
class Balance:
    """A user's money in one currency, by stage; pending includes "in review"."""

    currency: str
    pending: int
    approved: int
    paid: int


def balances(user_id: int) -> list[Balance]:
    """The user's pending (in review included), approved and paid sums per currency."""
    return [
        Balance(
            currency=totals.currency,
            pending=totals.amount(RewardStatus.PENDING)
            + totals.amount(RewardStatus.REVIEW),
            approved=totals.amount(RewardStatus.APPROVED),
            paid=totals.amount(RewardStatus.PAID),
        )
        for totals in reports.rewards_by_status(user_id=user_id)
    ]


@dataclass(frozen=True)
class MyRewards:
    """What the user's own page shows about their rewards."""

    #: A Page of reward rows (storage.pagination).
    items: Page
    balances: list[Balance]


def my_rewards(user_id: int, page: int = 1, per_page: int = 25) -> MyRewards:
    """One page of the user's rewards, newest first, and their balances.

    Each reward names the friend it is for (the person they referred, or for the
    referred user's own reward, who invited them) and, when rejected, why.
    """
    User = current_app.extensions["referrals"].user_model
    friend = aliased(User)
    friend_cols = user_sql(friend)
    friend_id = sa.case(
        (Referral.referrer_id == Reward.user_id, Referral.referred_id),
        else_=Referral.referrer_id,
    )
    why_rejected = (
        sa.select(RewardEvent.reason)
        .where(
            RewardEvent.reward_id == Reward.id,
            RewardEvent.to_status == RewardStatus.REJECTED,
        )
        .order_by(RewardEvent.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = (
        sa.select(
            Reward.id,
            Reward.rule,
            Reward.kind,
            Reward.amount_minor,
            Reward.currency,
            Reward.status,
            Reward.created_at,
            Reward.hold_until,
            Reward.source_key,
            Reward.adjusts_reward_id,
            (Referral.referrer_id == Reward.user_id).label("as_referrer"),
            friend_cols.name.label("friend_name"),
            why_rejected.label("rejected_because"),
        )
        .outerjoin(Referral, Referral.id == Reward.referral_id)
        .outerjoin(friend, friend_cols.id == friend_id)
        .where(Reward.user_id == user_id)
        .order_by(Reward.created_at.desc(), Reward.id.desc())
    )
    count = sa.select(sa.func.count(Reward.id)).where(Reward.user_id == user_id)
    return MyRewards(
        items=paginate_rows(query, page, per_page, count=count),
        balances=balances(user_id),
    )


def _queue_query():
    User = current_app.extensions["referrals"].user_model
    recipient, referrer, referred = aliased(User), aliased(User), aliased(User)
    recipient_cols = user_sql(recipient)
    referred_cols = user_sql(referred)
    referrer_cols = user_sql(referrer)
    return sa.select(
        Reward.id,
        Reward.rule,
        Reward.kind,
        Reward.amount_minor,
        Reward.currency,
        Reward.status,
        Reward.source_key,
        Reward.created_at,
        Reward.hold_until,
        Reward.adjusts_reward_id,
        Reward.program_version,
        recipient_cols.name.label("recipient_name"),
        recipient_cols.email.label("recipient_email"),
        referrer_cols.name.label("referrer_name"),
        referrer_cols.email.label("referrer_email"),
        referred_cols.name.label("referred_name"),
        referred_cols.email.label("referred_email"),
        Conversion.external_id.label("conversion_external_id"),
        Conversion.kind.label("conversion_kind"),
        Conversion.held_reason.label("conversion_held_reason"),
        Conversion.refunded_minor.label("conversion_refunded_minor"),
        Conversion.amount_minor.label("conversion_amount_minor"),
        Conversion.currency.label("conversion_currency"),
        Referral.review_status,
    ).select_from(
        sa.join(Reward, recipient, recipient_cols.id == Reward.user_id)
        .outerjoin(Referral, Referral.id == Reward.referral_id)
        .outerjoin(referrer, referrer_cols.id == Referral.referrer_id)
        .outerjoin(referred, referred_cols.id == Referral.referred_id)
        .outerjoin(Conversion, Conversion.id == Reward.conversion_id)
    )


def queue_page(status: str, page: int, per_page: int) -> Page:
    """One page of rewards for the admin, oldest first, filtered by status."""
    query = _queue_query().order_by(Reward.created_at, Reward.id)
    if status != "all":
        query = query.where(Reward.status == RewardStatus(status))
    return paginate_rows(query, page, per_page)


@dataclass(frozen=True)
class RewardDetail:
    """One reward with its whole history, for the admin."""

    reward: sa.Row
    history: list


def reward_detail(reward_id: int) -> RewardDetail | None:
    """A reward and its events in order, or None."""
    reward = db.session.execute(_queue_query().where(Reward.id == reward_id)).first()
    if reward is None:
        return None
    User = current_app.extensions["referrals"].user_model
    user = user_sql(User)
    history = db.session.execute(
        sa.select(
            RewardEvent.from_status,
            RewardEvent.to_status,
            RewardEvent.amount_minor,
            RewardEvent.currency,
            RewardEvent.reason,
            RewardEvent.created_at,
            user.name.label("actor_name"),
        )
        .outerjoin(User, user.id == RewardEvent.actor_id)
        .where(RewardEvent.reward_id == reward_id)
        .order_by(RewardEvent.id)
    ).all()
    return RewardDetail(reward=reward, history=list(history))
