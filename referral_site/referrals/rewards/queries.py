"""Reads of rewards: a user's rewards and balances, the admin queue, one history.

Every change of a reward is an entry in the append-only reward_events, which moves
its amount out of one status and into another. A user's balances are those moves
summed: kept as they happen in ``user_reward_totals``, in the transaction that
writes each entry (rewards/totals.py), and never edited otherwise, so the user's page
reads a few rows however long the history. The state machine test checks after
every step that they equal the sums of the history itself.
"""

from dataclasses import dataclass, replace
from datetime import datetime

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
    RewardKind,
    RewardStatus,
    utcnow,
)
from referral_site.referrals.storage.pagination import Page, paginate_rows
from referral_site.referrals.users import user_sql


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
class MyReward:
    """One of the user's rewards as their page states it: status in words, and why."""

    id: int
    rule: str
    kind: RewardKind
    amount_minor: int
    currency: str
    status: RewardStatus
    created_at: datetime
    hold_until: datetime
    source_key: str
    adjusts_reward_id: int | None
    #: Whether the user earned it as the referrer (else as the referred friend).
    as_referrer: bool | None
    #: The friend it is for: the person referred, or who invited the user.
    friend_name: str | None
    #: Why it was rejected (the rejection's reason), if it was.
    rejected_because: str | None
    #: The status in the user's words ("in review", "pending"...).
    label: str
    #: What happens next, or None when nothing is to come.
    note: str | None


def _as_seen_by_user(row, now: datetime) -> MyReward:
    label, note = row.status.value, None
    if row.status == RewardStatus.REVIEW:
        label = "in review"
        note = (
            f"Hold ended {row.hold_until:%Y-%m-%d}; our team checks it before "
            "approving it"
        )
    elif row.status == RewardStatus.PENDING and row.hold_until > now:
        note = f"until {row.hold_until:%Y-%m-%d} (refunds may still come)"
    elif row.status == RewardStatus.PENDING:
        note = f"hold ended {row.hold_until:%Y-%m-%d}; approval comes next"
    elif row.status == RewardStatus.APPROVED:
        note = "to be paid"
    return MyReward(**row._asdict(), label=label, note=note)


@dataclass(frozen=True)
class MyRewards:
    """What the user's own page shows about their rewards."""

    #: A Page (storage.pagination) of MyReward.
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
    found, now = paginate_rows(query, page, per_page, count=count), utcnow()
    return MyRewards(
        items=replace(found, items=[_as_seen_by_user(row, now) for row in found.items]),
        balances=balances(user_id),
    )


def queue_query():
    """Rewards with their people, referral and source: the queue's and a reward's."""
    User = current_app.extensions["referrals"].user_model
    recipient, referrer, referred = aliased(User), aliased(User), aliased(User)
    recipient_cols = user_sql(recipient)
    referred_cols = user_sql(referred)
    referrer_cols = user_sql(referrer)
    return sa.select(
        Reward.id,
        Reward.user_id,
        Reward.referral_id,
        Referral.referrer_id,
        Referral.referred_id,
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


@dataclass(frozen=True)
class RewardDetail:
    """One reward with its whole history, for the admin."""

    reward: sa.Row
    history: list


def reward_detail(reward_id: int) -> RewardDetail | None:
    """A reward and its events in order, or None."""
    reward = db.session.execute(queue_query().where(Reward.id == reward_id)).first()
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


def totals_of(reward_ids: list[int]) -> list[tuple[str, int, int]]:
    """(currency, count, amount) of some rewards: what a bulk decision moves."""
    rows = db.session.execute(
        sa.select(
            Reward.currency,
            sa.func.count(Reward.id),
            sa.func.coalesce(sa.func.sum(Reward.amount_minor), 0),
        )
        .where(Reward.id.in_(reward_ids))
        .group_by(Reward.currency)
        .order_by(Reward.currency)
    )
    return [(currency, int(count), int(amount)) for currency, count, amount in rows]
