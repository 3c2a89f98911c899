"""The process-rewards job: release rewards whose hold is over, batch by batch."""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from referral_site.referrals.rewards.lifecycle import (
    ABUSE_REASON,
    Notices,
    move,
    rule_of,
)
from referral_site.referrals.rewards.verification import (
    UNVERIFIED_REASON,
    needs_verification,
)
from referral_site.referrals.storage.models import (
    Conversion,
    Referral,
    ReviewStatus,
    Reward,
    RewardStatus,
    utcnow,
)
from referral_site.referrals.storage.transactions import write_transaction


@dataclass(frozen=True)
class Processed:
    """What one process-rewards run did."""

    approved: int
    to_review: int
    rejected: int = 0


def process_rewards(now: datetime | None = None, batch_size: int = 200) -> Processed:
    """Approve pending rewards whose hold has passed, or queue them for review.

    Rewards of a flagged referral (or of a rule requiring review) go to review; those
    of a referral confirmed as abuse are rejected. Safe to run concurrently: each
    batch locks its rows with FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite's BEGIN
    IMMEDIATE serializes runs), and each move is a conditional UPDATE, so a reward
    is decided once whoever gets to it.
    """
    now = now or utcnow()
    counts = Counter()
    while True:
        notices = Notices()
        with write_transaction() as session:
            rows = session.execute(
                sa.select(
                    Reward.id,
                    Reward.rule,
                    Reward.program_version,
                    Reward.user_id,
                    Referral.review_status,
                )
                .outerjoin(Referral, Referral.id == Reward.referral_id)
                .outerjoin(Conversion, Conversion.id == Reward.conversion_id)
                .where(Reward.status == RewardStatus.PENDING, Reward.hold_until <= now)
                # A disputed payment's rewards wait for the dispute's outcome.
                .where(Conversion.held_reason.is_(None))
                .order_by(Reward.id)
                .limit(batch_size)
                .with_for_update(skip_locked=True, of=Reward)
            ).all()
            for row in rows:
                target, reason = _release(row)
                if target == RewardStatus.APPROVED and needs_verification(
                    session, row.rule, row.user_id, row.program_version
                ):
                    target, reason = RewardStatus.REVIEW, UNVERIFIED_REASON
                problem = move(
                    session,
                    row.id,
                    target,
                    allowed=(RewardStatus.PENDING,),
                    actor_id=None,
                    reason=reason,
                    notices=notices,
                )
                counts[target] += problem is None
        notices.send()
        if len(rows) < batch_size:
            return Processed(
                approved=counts[RewardStatus.APPROVED],
                to_review=counts[RewardStatus.REVIEW],
                rejected=counts[RewardStatus.REJECTED],
            )


def _release(row):
    """Where a reward goes when its hold is over, and why.

    Its rule is read in the program version that granted it: a later version of
    the program changes what new conversions earn, not what was granted before.
    """
    rule_name, review_status = row.rule, row.review_status
    if review_status == ReviewStatus.CONFIRMED:
        return RewardStatus.REJECTED, ABUSE_REASON
    if review_status == ReviewStatus.FLAGGED:
        return RewardStatus.REVIEW, "hold over; referral flagged for review"
    rule = rule_of(row.program_version, rule_name)
    if rule is None:
        # A rule removed from the configuration is paid only after a human looked.
        return RewardStatus.REVIEW, f"hold over; rule {rule_name} is not configured"
    if rule.review:
        return RewardStatus.REVIEW, "hold over; rule requires review"
    return RewardStatus.APPROVED, "hold over"
