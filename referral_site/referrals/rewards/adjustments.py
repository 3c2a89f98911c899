"""An admin's manual adjustments: a reward given by hand, or a deduction."""

from referral_site.referrals import signals
from referral_site.referrals.rewards.currencies import is_currency
from referral_site.referrals.rewards.lifecycle import (
    Notices,
    RewardError,
    lock_user,
    record_event,
)
from referral_site.referrals.storage.models import (
    DEDUCTION_RULE,
    MANUAL_RULE,
    Reward,
    RewardKind,
    RewardStatus,
    utcnow,
)
from referral_site.referrals.storage.transactions import write_transaction

#: The largest adjustment, in minor units either way (a typo guard: 10 million).
MAX_ADJUSTMENT = 1_000_000_000


def adjust(
    user_id,
    amount_minor: int,
    currency: str,
    *,
    actor_id,
    reason: str,
    kind: RewardKind = RewardKind.CREDIT,
) -> int:
    """Give (amount > 0) or deduct (amount < 0) money by hand; returns the reward id.

    It is approved at once (an admin decided it) and written to the reward history
    with who and why like any other change, so balances, exports and the user's
    page count it. A deduction lowers what the person is owed.
    """
    reason = (reason or "").strip()
    currency = (currency or "").strip().upper()
    if not reason:
        raise RewardError("Give a reason for the adjustment.")
    if not isinstance(amount_minor, int) or amount_minor == 0:
        raise RewardError("Give an amount other than zero.")
    if abs(amount_minor) > MAX_ADJUSTMENT:
        raise RewardError("That amount is larger than any adjustment allowed.")
    if not is_currency(currency):
        raise RewardError(f"{currency or 'That'} is not an ISO 4217 currency.")
    notices = Notices()
    now = utcnow()
    with write_transaction() as session:
        lock_user(session, user_id)
        reward = Reward(
            user_id=user_id,
            kind=kind,
            amount_minor=amount_minor,
            currency=currency,
            status=RewardStatus.APPROVED,
            rule=MANUAL_RULE if amount_minor > 0 else DEDUCTION_RULE,
            earned_at=now,
            hold_until=now,
        )
        session.add(reward)
        session.flush()
        record_event(session, reward.id, None, reward, actor_id, reason)
        notices.add(
            signals.reward_created,
            reward_id=reward.id,
            user_id=user_id,
            rule=reward.rule,
            amount_minor=amount_minor,
            currency=currency,
            status=RewardStatus.APPROVED,
        )
        reward_id = reward.id
    notices.send()
    return reward_id
