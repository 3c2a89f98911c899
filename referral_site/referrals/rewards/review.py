"""What a referral's fraud review does to its unpaid rewards."""

import sqlalchemy as sa

from referral_site.referrals.rewards.lifecycle import (
    ABUSE_REASON,
    OPEN,
    Notices,
    RewardError,
    move,
    rule_of,
)
from referral_site.referrals.storage.models import (
    Referral,
    ReviewStatus,
    Reward,
    RewardStatus,
)
from referral_site.referrals.storage.transactions import write_transaction


def apply_review_decision(
    referral_id: int, *, actor_id: int | None, reason: str
) -> int:
    """Re-evaluate a referral's unpaid rewards in a transaction of their own."""
    notices = Notices()
    with write_transaction() as session:
        referral = session.get(Referral, referral_id, populate_existing=True)
        if referral is None:
            raise RewardError("No such referral.")
        moved = reevaluate_rewards(
            session, referral, actor_id=actor_id, reason=reason, notices=notices
        )
    notices.send()
    return moved


def reevaluate_rewards(
    session, referral: Referral, *, actor_id: int | None, reason: str, notices
) -> int:
    """Move a referral's unpaid rewards to where its review_status says they belong.

    CONFIRMED rejects them ("referral confirmed as abuse"); FLAGGED sends approved ones
    back to review; CLEAR/CLEARED returns those waiting in review (and not held there
    by their rule) to pending, for process-rewards to approve. Runs inside the
    caller's transaction, so the status change and the moves commit together.
    Returns how many moved.
    """
    moved = 0
    rows = session.execute(
        sa.select(Reward.id, Reward.status, Reward.rule, Reward.program_version)
        .where(
            Reward.referral_id == referral.id,
            Reward.adjusts_reward_id.is_(None),
            Reward.status.in_(OPEN),
        )
        .order_by(Reward.id)
    ).all()
    for row in rows:
        target = _after_review(referral.review_status, row)
        if target is None:
            continue
        note = ABUSE_REASON if target == RewardStatus.REJECTED else reason
        problem = move(
            session,
            row.id,
            target,
            allowed=(row.status,),
            actor_id=actor_id,
            reason=note or f"referral {referral.review_status.value}",
            notices=notices,
        )
        moved += problem is None
    return moved


def _after_review(review_status: ReviewStatus, row) -> RewardStatus | None:
    if review_status == ReviewStatus.CONFIRMED:
        return RewardStatus.REJECTED
    if review_status == ReviewStatus.FLAGGED:
        return RewardStatus.REVIEW if row.status == RewardStatus.APPROVED else None
    rule = rule_of(row.program_version, row.rule)
    if row.status == RewardStatus.REVIEW and rule is not None and not rule.review:
        return RewardStatus.PENDING
    return None
