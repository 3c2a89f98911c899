"""What a refund does to its conversion's rewards: reversal, or a clawback once paid."""

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from referral_site.referrals import signals
from referral_site.referrals.rewards.lifecycle import (
    ADJUSTMENT_RULE,
    OPEN,
    move,
    record_event,
)
from referral_site.referrals.storage.models import Reward, RewardStatus, utcnow


def reverse_for_refund(session, conversion_id: int, *, actor_id, reason, notices):
    """Reverse a refunded conversion's unpaid rewards; claw back the paid ones."""
    reward_ids = session.scalars(
        sa.select(Reward.id)
        .where(
            Reward.conversion_id == conversion_id, Reward.adjusts_reward_id.is_(None)
        )
        .order_by(Reward.id)
    ).all()
    for reward_id in reward_ids:
        problem = move(
            session,
            reward_id,
            RewardStatus.REVERSED,
            allowed=OPEN,
            actor_id=actor_id,
            reason=reason,
            notices=notices,
        )
        # Paid already (perhaps a moment ago, by an admin): record a clawback.
        status = session.scalar(sa.select(Reward.status).where(Reward.id == reward_id))
        if problem and status == RewardStatus.PAID:
            claw_back_paid(
                session, reward_id, actor_id=actor_id, reason=reason, notices=notices
            )


def claw_back_paid(session, paid_id: int, *, actor_id, reason, notices) -> int | None:
    """Add the negative adjustment taking back a paid reward; None if one exists."""
    paid = session.get(Reward, paid_id)
    adjustment = Reward(
        user_id=paid.user_id,
        referral_id=paid.referral_id,
        kind=paid.kind,
        amount_minor=-paid.amount_minor,
        currency=paid.currency,
        status=RewardStatus.APPROVED,
        rule=ADJUSTMENT_RULE,
        source_key=f"adjustment:{paid.id}",
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
