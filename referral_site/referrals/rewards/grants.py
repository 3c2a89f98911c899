"""Granting rewards: which rules fire for a signup or a conversion, for whom, how much.

Every grant is an INSERT guarded by the unique (rule, source_key, user_id): a retry,
a double delivery or a racing worker finds the reward already there and grants
nothing. Caps and milestones are counted while the referrer's row is locked.
"""

import calendar
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from referral_site.referrals import signals
from referral_site.referrals.attribution import liveness
from referral_site.referrals.outbox import events as outbox
from referral_site.referrals.program import cache as program_cache
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.rewards.engine import Notices, lock_user
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
    program = program_cache.in_force()
    for rule in program.rules:
        if rule.trigger == "milestone":
            if first:
                _grant_milestone(
                    session, rule, conversion, referral, notices, program.version
                )
            continue
        if rule.trigger not in ("first_conversion", "every_conversion"):
            continue
        if not rule.matches(conversion.kind) or _past_months(
            rule, conversion, referral
        ):
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
            version=program.version,
        )


def _past_months(rule: Rule, conversion: Conversion, referral: Referral) -> bool:
    """Whether the conversion is past the rule's months from the first conversion."""
    if rule.months is None or referral.converted_at is None:
        return False
    return conversion.occurred_at >= add_months(referral.converted_at, rule.months)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months later (clamped to the
    month's last day: Jan 31 + 1 month is Feb 28 or 29)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def grant_for_signup(session, referral: Referral, *, notices) -> list[int]:
    """Apply the signup rules to a referral inside the caller's transaction.

    Signup calls it in its own transaction, so a referred account and its signup
    rewards commit together or not at all. Granting twice is a no-op.
    """
    program = program_cache.in_force()
    rules = [rule for rule in program.rules if rule.trigger == "signup"]
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
            version=program.version,
        )
    return ids


def _earns(referral: Referral | None) -> bool:
    return (
        referral is not None
        and referral.status != ReferralStatus.REJECTED
        and referral.review_status != ReviewStatus.CONFIRMED
    )


def _grant_both_sides(
    session, rule, referral, *, source_key, conversion, earned_at, notices, version
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
            version=version,
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


def _grant_milestone(session, rule, conversion, referral, notices, version) -> None:
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
        version=version,
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
    version: int,
) -> int | None:
    """Insert one reward unless it exists; the unique (rule, source, user) decides."""
    if capped:
        amount = _within_caps(
            session, rule, user_id, currency, amount, earned_at, referral.id
        )
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
        program_version=version or None,
    )
    try:
        with session.begin_nested():
            session.add(reward)
    except IntegrityError:
        return None  # granted by a racing transaction: at most once holds
    rewards.record_event(
        session, reward.id, None, reward, None, f"granted by rule {rule.name}"
    )
    outbox.reward_created(session, reward)
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


def _within_caps(session, rule, user_id, currency, amount, earned_at, referral_id):
    """Cut an amount to what the rule's caps leave for this referrer.

    Rejected and reversed rewards leave the cap, and so does what a refund clawed
    back from a paid reward: what counts is what the referrer keeps, whether the
    refund came before or after the payment.
    """

    def kept(*conditions) -> int:
        # int(): PostgreSQL sums a BIGINT as NUMERIC, read by the driver as Decimal.
        return int(session.scalar(_kept_sum(rule.name, user_id, currency, conditions)))

    if rule.lifetime_cap is not None:
        amount = min(amount, rule.lifetime_cap - kept())
    if rule.monthly_cap is not None:
        start, end = month_bounds(earned_at)
        in_month = kept(Reward.earned_at >= start, Reward.earned_at < end)
        amount = min(amount, rule.monthly_cap - in_month)
    if rule.customer_cap is not None:
        customer = kept(Reward.referral_id == referral_id)
        amount = min(amount, rule.customer_cap - customer)
    return amount


def _kept_sum(rule_name, user_id, currency, conditions):
    """The sum a referrer keeps of a rule's rewards: grants less their clawbacks."""
    dropped = (RewardStatus.REJECTED, RewardStatus.REVERSED)
    clawback = sa.orm.aliased(Reward)
    clawed = (
        sa.select(sa.func.coalesce(sa.func.sum(clawback.amount_minor), 0))
        .where(clawback.adjusts_reward_id == Reward.id, clawback.status.notin_(dropped))
        .scalar_subquery()
    )
    return sa.select(
        sa.func.coalesce(sa.func.sum(Reward.amount_minor + clawed), 0)
    ).where(
        Reward.rule == rule_name,
        Reward.user_id == user_id,
        Reward.currency == currency,
        Reward.adjusts_reward_id.is_(None),
        Reward.status.notin_(dropped),
        *conditions,
    )


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The start of moment's calendar month (UTC) and of the next one."""
    moment = moment.astimezone(UTC)
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end
