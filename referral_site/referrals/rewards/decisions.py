"""Admins' decisions on rewards: approve, reject or mark paid, several at once."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from referral_site.referrals.rewards.lifecycle import OPEN, Notices, RewardError, move
from referral_site.referrals.rewards.verification import unverified_problem
from referral_site.referrals.storage.models import (
    Conversion,
    Referral,
    ReviewStatus,
    Reward,
    RewardStatus,
    utcnow,
)
from referral_site.referrals.storage.transactions import write_transaction

_ACTIONS = {
    # action: (statuses it may start from, status it leads to)
    "approve": ((RewardStatus.PENDING, RewardStatus.REVIEW), RewardStatus.APPROVED),
    "reject": (OPEN, RewardStatus.REJECTED),
    "pay": ((RewardStatus.APPROVED,), RewardStatus.PAID),
}


#: How each action reads in a sentence: "2 rewards approved."
_DONE = {"approve": "approved", "reject": "rejected", "pay": "marked paid"}
#: Decisions that release money: a flagged referral's reward needs a confirmation.
_RELEASING = ("approve", "pay")


@dataclass(frozen=True)
class Decision:
    """What a batch of admin decisions did: ids changed, and why others were not."""

    action: str
    changed: list[int]
    problems: list[str]

    @property
    def summary(self) -> str:
        """ "1 reward approved.", "3 rewards marked paid."""
        count = len(self.changed)
        noun = "reward" if count == 1 else "rewards"
        return f"{count:,} {noun} {_DONE[self.action]}."


def actions_for(status: RewardStatus, hold_until: datetime, now=None) -> list[str]:
    """The decisions a reward in this status can take now, in the buttons' order."""
    now = now or utcnow()
    actions = [
        action for action, (allowed, _to) in _ACTIONS.items() if status in allowed
    ]
    if status == RewardStatus.PENDING and hold_until > now:
        actions.remove("approve")  # the hold waits out refunds
    return actions


def decide(
    reward_ids: list[int],
    action: str,
    *,
    actor_id: int,
    reason: str = "",
    confirm_flagged: bool = False,
) -> Decision:
    """Approve, reject (reason required) or mark paid some rewards, in one transaction.

    Each reward moves only from a status the action allows; one that another admin
    moved first is reported in ``problems`` and left as it is. Approving or paying
    a reward whose referral is flagged needs ``confirm_flagged``: the admin has
    seen why it is flagged.
    """
    if action not in _ACTIONS:
        raise RewardError(f"Unknown action {action!r}.")
    reason = (reason or "").strip()
    if action == "reject" and not reason:
        raise RewardError("Give a reason to reject.")
    allowed, to_status = _ACTIONS[action]
    changed, problems, notices = [], [], Notices()
    now = utcnow()
    with write_transaction() as session:
        # A fixed order, so two bulk decisions lock rows without deadlocking.
        for reward_id in sorted(set(reward_ids)):
            problem = _disputed(session, reward_id) if action != "reject" else None
            if action == "approve":
                problem = (
                    problem
                    or _held(session, reward_id, now)
                    or unverified_problem(session, reward_id)
                )
            if action in _RELEASING and not confirm_flagged:
                problem = problem or _flagged(session, reward_id)
            problem = problem or move(
                session,
                reward_id,
                to_status,
                allowed=allowed,
                actor_id=actor_id,
                reason=reason or f"{action} by admin",
                notices=notices,
            )
            (problems.append(problem) if problem else changed.append(reward_id))
    notices.send()
    return Decision(action=action, changed=changed, problems=problems)


def _disputed(session, reward_id: int) -> str | None:
    """Why a reward cannot be approved or paid while its payment is disputed."""
    reason = session.scalar(
        sa.select(Conversion.held_reason)
        .join(Reward, Reward.conversion_id == Conversion.id)
        .where(Reward.id == reward_id)
    )
    if reason:
        return f"Reward #{reward_id} is held: {reason}."
    return None


def _held(session, reward_id: int, now: datetime) -> str | None:
    row = session.execute(
        sa.select(Reward.status, Reward.hold_until).where(Reward.id == reward_id)
    ).first()
    if row and row.status == RewardStatus.PENDING and row.hold_until > now:
        return (
            f"Reward #{reward_id} is on hold until "
            f"{row.hold_until:%Y-%m-%d %H:%M} UTC (refunds may still come)."
        )
    return None


def _flagged(session, reward_id: int) -> str | None:
    flagged = session.scalar(
        sa.select(Referral.id)
        .join(Reward, Reward.referral_id == Referral.id)
        .where(Reward.id == reward_id, Referral.review_status == ReviewStatus.FLAGGED)
    )
    if flagged is None:
        return None
    return (
        f"Reward #{reward_id} comes from referral #{flagged}, which is flagged: "
        "read why, then confirm to release it anyway."
    )
