"""Granting rewards: which rules fire for a signup or a conversion, for whom, how much.

Every grant is an INSERT guarded by the unique (rule, source_key, user_id): a retry,
a double delivery or a racing worker finds the reward already there and grants
nothing. Caps and milestones are counted while the referrer's row is locked.
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from referral_site.referrals import signals
from referral_site.referrals.attribution import liveness
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.rewards.engine import (
    Notices,
    active_rules,
    lock_user,
)
from referral_site.referrals.rewards.rules import Rule
from referral_site.referrals.storage.models import (
    Conversion,
    Referral,
    ReferralStatus,
    ReviewStatus,
    Reward,
    RewardStatus,
)


def grant_for_conversion(
    session, conversion: Conversion, referral: Referral | None, *, first: bool, notices
) -> None:
    """Apply the conversion rules to a new conversion (inside its transaction)."""
    if not _earns(referral):
        return
    for rule in active_rules():
        if rule.trigger == "milestone":
            if first:
                _grant_milestone(session, rule, conversion, referral, notices)
            continue
        if rule.trigger not in ("first_conversion", "every_conversion"):
            continue
        if not rule.matches(conversion.kind):
            continue
        source = (
            f"referral:{referral.id}"
            if rule.trigger == "first_conversion"
            else f"conversion:{conversion.id}"
        )
        _grant_both_sides(
            session,
            rule,
            referral,
            source_key=source,
            conversion=conversion,
            earned_at=conversion.occurred_at,
            notices=notices,
        )


def grant_for_signup(session, referral: Referral, *, notices) -> list[int]:
    """Apply the signup rules to a referral inside the caller's transaction.

    Signup calls it in its own transaction, so a referred account and its signup
    rewards commit together or not at all. Granting twice is a no-op.
    """
    rules = [rule for rule in active_rules() if rule.trigger == "signup"]
    if not rules or not _earns(referral):
        return []
    lock_user(session, referral.referrer_id)  # caps count one grant at a time
    ids = []
    for rule in rules:
        ids += _grant_both_sides(
            session,
            rule,
            referral,
            source_key=f"referral:{referral.id}",
            conversion=None,
            earned_at=referral.created_at,
            notices=notices,
        )
    return ids


def _earns(referral: Referral | None) -> bool:
    return (
        referral is not None
        and referral.status != ReferralStatus.REJECTED
        and referral.review_status != ReviewStatus.CONFIRMED
    )


def _grant_both_sides(
    session, rule, referral, *, source_key, conversion, earned_at, notices
) -> list[int]:
    amount = conversion.amount_minor if conversion is not None else None
    sides = [
        (referral.referrer_id, rule.referrer_value, True),
        (referral.referred_id, rule.referred_value, False),
    ]
    forgotten = _forgotten(session, referral)
    ids = []
    for user_id, value, is_referrer in sides:
        if value is None or user_id in forgotten:
            continue
        # A percentage is paid in the conversion's currency, a fixed amount in the
        # rule's.
        percent_of_conversion = value.percent is not None and conversion is not None
        reward_id = _grant(
            session,
            rule,
            referral=referral,
            user_id=user_id,
            amount=value.of(amount),
            currency=conversion.currency if percent_of_conversion else rule.currency,
            capped=is_referrer,
            source_key=source_key,
            conversion_id=conversion.id if conversion is not None else None,
            earned_at=earned_at,
            notices=notices,
        )
        if reward_id is not None:
            ids.append(reward_id)
    return ids


def _forgotten(session, referral: Referral) -> set:
    """Which of the referral's two people earn nothing more: forgotten or suspended.

    Their history and counts stay; a click cached by another worker before the
    change must not turn into money for an account that no longer earns.
    """
    return liveness.not_earning(session, (referral.referrer_id, referral.referred_id))


def _grant_milestone(session, rule, conversion, referral, notices) -> None:
    qualified = session.scalar(
        sa.select(sa.func.count(Referral.id)).where(
            Referral.referrer_id == referral.referrer_id,
            Referral.status == ReferralStatus.CONVERTED,
            Referral.review_status != ReviewStatus.CONFIRMED,
        )
    )
    if qualified not in rule.milestones or referral.referrer_id in _forgotten(
        session, referral
    ):
        return
    _grant(
        session,
        rule,
        referral=referral,
        user_id=referral.referrer_id,
        amount=rule.referrer_value.amount,
        currency=rule.currency,
        capped=True,
        source_key=f"milestone:{qualified}",
        conversion_id=conversion.id,
        earned_at=conversion.occurred_at,
        notices=notices,
    )


def _grant(
    session,
    rule: Rule,
    *,
    referral: Referral,
    user_id: int,
    amount: int,
    currency: str,
    capped: bool,
    source_key: str,
    conversion_id: int | None,
    earned_at: datetime,
    notices: Notices,
) -> int | None:
    """Insert one reward unless it exists; the unique (rule, source, user) decides."""
    if capped:
        amount = _within_caps(session, rule, user_id, currency, amount, earned_at)
    if amount <= 0 or _granted(session, rule.name, source_key, user_id):
        return None
    reward = Reward(
        user_id=user_id,
        referral_id=referral.id,
        kind=rule.kind,
        amount_minor=amount,
        currency=currency,
        status=RewardStatus.PENDING,
        rule=rule.name,
        source_key=source_key,
        conversion_id=conversion_id,
        earned_at=earned_at,
        hold_until=earned_at + timedelta(days=rule.hold_days),
    )
    try:
        with session.begin_nested():
            session.add(reward)
    except IntegrityError:
        return None  # granted by a racing transaction: at most once holds
    rewards.record_event(
        session, reward.id, None, reward, None, f"granted by rule {rule.name}"
    )
    notices.add(
        signals.reward_created,
        reward_id=reward.id,
        user_id=user_id,
        rule=rule.name,
        amount_minor=amount,
        currency=currency,
        status=RewardStatus.PENDING,
    )
    return reward.id


def _granted(session, rule_name: str, source_key: str, user_id: int) -> bool:
    return session.scalar(
        sa.select(
            sa.exists().where(
                Reward.rule == rule_name,
                Reward.source_key == source_key,
                Reward.user_id == user_id,
            )
        )
    )


def _within_caps(session, rule, user_id, currency, amount, earned_at) -> int:
    """Cut an amount to what the rule's caps leave for this referrer.

    Rejected and reversed rewards leave the cap, and so does a paid reward that a
    refund clawed back: what counts is what the referrer keeps, whether the refund
    came before or after the payment.
    """
    clawback = sa.orm.aliased(Reward)
    clawed_back = sa.exists().where(
        clawback.adjusts_reward_id == Reward.id,
        clawback.status.notin_((RewardStatus.REJECTED, RewardStatus.REVERSED)),
    )
    earned = sa.select(sa.func.coalesce(sa.func.sum(Reward.amount_minor), 0)).where(
        Reward.rule == rule.name,
        Reward.user_id == user_id,
        Reward.currency == currency,
        Reward.adjusts_reward_id.is_(None),
        Reward.status.notin_((RewardStatus.REJECTED, RewardStatus.REVERSED)),
        ~clawed_back,
    )
    # int(): PostgreSQL sums a BIGINT as NUMERIC, which the driver reads as Decimal.
    if rule.lifetime_cap is not None:
        amount = min(amount, rule.lifetime_cap - int(session.scalar(earned)))
    if rule.monthly_cap is not None:
        start, end = month_bounds(earned_at)
        in_month = earned.where(Reward.earned_at >= start, Reward.earned_at < end)
        amount = min(amount, rule.monthly_cap - int(session.scalar(in_month)))
    return amount


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The start of moment's calendar month (UTC) and of the next one."""
    moment = moment.astimezone(UTC)
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end
