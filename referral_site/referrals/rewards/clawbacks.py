"""Taking back paid rewards an admin decides were not earned (abuse found later)."""

import sqlalchemy as sa

from referral_site.referrals.rewards.lifecycle import Notices, RewardError
from referral_site.referrals.rewards.refunds import claw_back_paid
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import Reward, RewardStatus
from referral_site.referrals.storage.transactions import write_transaction


def claw_back(reward_id: int, *, actor_id, reason: str) -> int:
    """Record a negative adjustment for a paid reward; returns the adjustment's id.

    The paid reward stays paid (the money left); the adjustment, approved at once,
    is what the recipient now owes, and is deducted from what they are paid next.
    """
    reason = (reason or "").strip()
    if not reason:
        raise RewardError("Give a reason to claw back a reward.")
    notices = Notices()
    with write_transaction() as session:
        status = session.scalar(
            sa.select(Reward.status).where(Reward.id == reward_id).with_for_update()
        )
        if status is None:
            raise RewardError(f"Reward #{reward_id} does not exist.")
        if status != RewardStatus.PAID:
            raise RewardError(
                f"Reward #{reward_id} is {status.value}: only a paid reward is "
                "clawed back (reject an unpaid one)."
            )
        adjustment = claw_back_paid(
            session, reward_id, actor_id=actor_id, reason=reason, notices=notices
        )
        if adjustment is None:
            raise RewardError(f"Reward #{reward_id} was already clawed back.")
    notices.send()
    return adjustment


def left_to_claw_back():
    """SQL: what of a paid reward (``Reward``) its adjustments have not taken back.

    A partial refund after payout takes back a share; the rest can still be
    clawed back when abuse is confirmed later, so "has an adjustment" is not
    "clawed back". Rejected or reversed adjustments took nothing.
    """
    adjustment = sa.orm.aliased(Reward)
    taken = (
        sa.select(sa.func.coalesce(sa.func.sum(adjustment.amount_minor), 0))
        .where(
            adjustment.adjusts_reward_id == Reward.id,
            adjustment.status.notin_((RewardStatus.REJECTED, RewardStatus.REVERSED)),
        )
        .scalar_subquery()
    )
    return Reward.amount_minor + taken


def paid_not_clawed_back(referral_ids: list[int]) -> dict[int, list]:
    """Per referral, its paid rewards not wholly taken back yet (id, the amount
    still to claw back, currency)."""
    found: dict[int, list] = {referral_id: [] for referral_id in referral_ids}
    left = left_to_claw_back()
    rows = db.session.execute(
        sa.select(
            Reward.referral_id, Reward.id, left.label("amount_minor"), Reward.currency
        )
        .where(
            Reward.referral_id.in_(referral_ids),
            Reward.status == RewardStatus.PAID,
            Reward.adjusts_reward_id.is_(None),
            left > 0,
        )
        .order_by(Reward.id)
    )
    for row in rows:
        found[row.referral_id].append(row)
    return found


def is_clawed_back(reward_id: int) -> bool:
    """Whether a paid reward was wholly taken back (clawed back or refunded)."""
    left = db.session.scalar(
        sa.select(left_to_claw_back()).where(Reward.id == reward_id)
    )
    return left is not None and left <= 0
