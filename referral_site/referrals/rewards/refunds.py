"""What a refund does to its conversion's rewards: the refunded share comes back.

A full refund reverses the unpaid rewards and claws the paid ones back. A partial
refund takes back the refunded share of percentage rewards (fixed ones follow their
rule's ``fixed_clawback``: all or nothing): an unpaid reward's amount is reduced
(an event records the difference), a paid one gets a negative adjustment. Paid
rewards are never edited, and the history stays append-only.
"""

from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from referral_site.referrals import signals
from referral_site.referrals.outbox import events as outbox
from referral_site.referrals.rewards import totals as reward_totals
from referral_site.referrals.rewards.lifecycle import (
    ADJUSTMENT_RULE,
    OPEN,
    move,
    open_payout_batch,
    record_event,
    rule_of,
)
from referral_site.referrals.storage.models import (
    Conversion,
    Referral,
    Reward,
    RewardEvent,
    RewardStatus,
    utcnow,
)


def reverse_for_refund(session, conversion_id: int, *, actor_id, reason, notices):
    """Reverse a refunded conversion's unpaid rewards; claw back the paid ones."""
    amount = session.scalar(
        sa.select(Conversion.amount_minor).where(Conversion.id == conversion_id)
    )
    claw_back_share(
        session,
        conversion_id,
        refunded=max(amount, 1),
        amount=max(amount, 1),
        actor_id=actor_id,
        reason=reason,
        notices=notices,
    )


def claw_back_share(
    session, conversion_id, *, refunded, amount, actor_id, reason, notices
):
    """Bring each reward of a conversion down to the share of it still paid for.

    ``refunded`` of ``amount`` minor units were refunded in all (cumulative, so a
    repeated call changes nothing).
    """
    reward_ids = session.scalars(
        sa.select(Reward.id)
        .where(
            Reward.conversion_id == conversion_id, Reward.adjusts_reward_id.is_(None)
        )
        .order_by(Reward.id)
    ).all()
    for reward_id in reward_ids:
        kept = _kept(session, reward_id, refunded, amount)
        if kept is None:
            continue
        context = dict(actor_id=actor_id, reason=reason, notices=notices)
        if not _reduce_unpaid(session, reward_id, kept, **context):
            _adjust(session, reward_id, kept, refunded=refunded, **context)


def _kept(session, reward_id: int, refunded: int, amount: int) -> int | None:
    """What the reward should come to after the refund (None: it is not touched)."""
    if refunded >= amount:
        return 0
    granted = _granted_amount(session, reward_id)
    rule_name, version, referrer_id, user_id = session.execute(
        sa.select(
            Reward.rule, Reward.program_version, Referral.referrer_id, Reward.user_id
        )
        .outerjoin(Referral, Referral.id == Reward.referral_id)
        .where(Reward.id == reward_id)
    ).one()
    # The rule as it was when it granted the reward (its program version).
    rule = rule_of(version, rule_name)
    value = None
    if rule is not None:
        value = rule.referrer_value if user_id == referrer_id else rule.referred_value
    if value is not None and value.percent is not None:
        share = Decimal(granted) * (amount - refunded) / amount
        return int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if rule is not None and rule.fixed_clawback == "full":
        return 0
    return None


def _granted_amount(session, reward_id: int) -> int:
    """The amount a reward was granted with (its first history entry)."""
    return session.scalar(
        sa.select(RewardEvent.amount_minor)
        .where(RewardEvent.reward_id == reward_id)
        .order_by(RewardEvent.id)
        .limit(1)
    )


def _reduce_unpaid(session, reward_id, kept, *, actor_id, reason, notices) -> bool:
    """Reverse or reduce an unpaid reward; False when it is paid (or settled), or
    is being paid: then a negative adjustment takes the refunded share back."""
    # Locked first: a payout batch being created holds its rewards' rows, so this
    # waits for it and then sees whether the reward is in it.
    row = session.execute(
        sa.select(*(getattr(Reward, c) for c in reward_totals.COLUMNS))
        .where(Reward.id == reward_id)
        .with_for_update()
    ).one()
    if row.status not in OPEN:
        return row.status != RewardStatus.PAID
    if row.status == RewardStatus.APPROVED and _paying_or_adjusted(session, reward_id):
        # The provider pays what the batch's file says: the reward stays whole and
        # the refund becomes a clawback netted against the next payout. Once
        # adjusted, a reward is only ever adjusted further (never counted twice).
        return False
    if kept <= 0:
        problem = move(
            session,
            reward_id,
            RewardStatus.REVERSED,
            allowed=OPEN,
            actor_id=actor_id,
            reason=reason,
            notices=notices,
        )
        return problem is None or _reduce_unpaid(
            session, reward_id, kept, actor_id=actor_id, reason=reason, notices=notices
        )
    if kept >= row.amount_minor:
        return True
    changed = session.execute(
        sa.update(Reward)
        .where(Reward.id == reward_id, Reward.status == row.status)
        .values(amount_minor=kept)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:  # paid or decided meanwhile: look again
        return _reduce_unpaid(
            session, reward_id, kept, actor_id=actor_id, reason=reason, notices=notices
        )
    before = row._mapping
    after = {**before, "amount_minor": kept}
    reward_totals.add(
        session.connection(), reward_totals.tally([(before, -1), (after, 1)])
    )
    # An event whose from and to statuses are equal changes the amount by its own.
    session.add(
        RewardEvent(
            reward_id=reward_id,
            from_status=row.status,
            to_status=row.status,
            amount_minor=kept - row.amount_minor,
            currency=row.currency,
            actor_id=actor_id,
            reason=f"{reason} (partial: {row.amount_minor} -> {kept})"[:500],
        )
    )
    return True


def _paying_or_adjusted(session, reward_id: int) -> bool:
    """Whether a reward is in an open payout batch or already has adjustments."""
    if open_payout_batch(session, reward_id) is not None:
        return True
    return bool(
        session.scalar(
            sa.select(sa.exists().where(Reward.adjusts_reward_id == reward_id))
        )
    )


def clawed_back(session, paid_id: int) -> int:
    """How much of a paid reward its adjustments took back so far (positive)."""
    return -int(
        session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Reward.amount_minor), 0)).where(
                Reward.adjusts_reward_id == paid_id,
                Reward.status.notin_((RewardStatus.REJECTED, RewardStatus.REVERSED)),
            )
        )
    )


def claw_back_paid(session, paid_id: int, *, actor_id, reason, notices) -> int | None:
    """Take back what is left of a paid reward (an admin's decision, e.g. abuse
    confirmed): the id of the negative adjustment, or None if nothing was left."""
    return _adjust(
        session,
        paid_id,
        0,
        refunded="all",
        actor_id=actor_id,
        reason=reason,
        notices=notices,
    )


def _adjust(
    session, paid_id, kept, *, refunded, actor_id, reason, notices
) -> int | None:
    """A negative adjustment bringing a paid reward down to ``kept``; its id, or
    None when earlier adjustments took back that much already."""
    paid = session.get(Reward, paid_id)
    taken = clawed_back(session, paid_id)
    owed = paid.amount_minor - kept - taken
    if owed <= 0:
        return None
    # The first clawback of a whole reward keeps the plain key; each further step
    # of partial refunds is keyed by the refunded total it brings the reward to.
    suffix = "" if kept == 0 and taken == 0 else f":{refunded}"
    adjustment = Reward(
        user_id=paid.user_id,
        referral_id=paid.referral_id,
        kind=paid.kind,
        amount_minor=-owed,
        currency=paid.currency,
        status=RewardStatus.APPROVED,
        rule=ADJUSTMENT_RULE,
        source_key=f"adjustment:{paid.id}{suffix}",
        conversion_id=paid.conversion_id,
        adjusts_reward_id=paid.id,
        earned_at=utcnow(),
        hold_until=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(adjustment)
    except IntegrityError:
        return None  # already clawed back
    record_event(session, adjustment.id, None, adjustment, actor_id, reason)
    outbox.reward_created(session, adjustment)
    notices.add(
        signals.reward_created,
        reward_id=adjustment.id,
        user_id=adjustment.user_id,
        rule=ADJUSTMENT_RULE,
        amount_minor=adjustment.amount_minor,
        currency=adjustment.currency,
        status=RewardStatus.APPROVED,
    )
    return adjustment.id
