"""Rules with ``verified_email``: their rewards are approved only for recipients
whose email address is verified (the host's REFERRALS_USER_EMAIL_VERIFIED)."""

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.rewards.lifecycle import move, rule_of
from referral_site.referrals.storage.models import (
    Referral,
    ReviewStatus,
    Reward,
    RewardStatus,
)
from referral_site.referrals.users import email_is_verified

#: Why a reward waits in review for its recipient's address.
UNVERIFIED_REASON = "hold over; email address not verified"


def needs_verification(
    session, rule_name: str, user_id, program_version: int | None
) -> bool:
    """Whether a reward of this rule (in the program version that granted it) for
    this user must wait for a verified email."""
    rule = rule_of(program_version, rule_name)
    if rule is None or not rule.verified_email:
        return False
    user = session.get(current_app.extensions["referrals"].user_model, user_id)
    return user is None or not email_is_verified(user)


def unverified_problem(session, reward_id: int) -> str | None:
    """Why an admin cannot approve this reward yet, or None."""
    row = session.execute(
        sa.select(Reward.rule, Reward.user_id, Reward.program_version).where(
            Reward.id == reward_id
        )
    ).first()
    if row is None or not needs_verification(
        session, row.rule, row.user_id, row.program_version
    ):
        return None
    return (
        f"Reward #{reward_id} needs a verified email address: its recipient has "
        "not confirmed theirs yet."
    )


def release_verified_rewards(session, user_id, notices) -> int:
    """A user verified their address: their rewards that waited only for it return
    to pending (their hold is over, so the next process-rewards approves them)."""
    rows = session.execute(
        sa.select(
            Reward.id, Reward.rule, Reward.program_version, Referral.review_status
        )
        .outerjoin(Referral, Referral.id == Reward.referral_id)
        .where(Reward.user_id == user_id, Reward.status == RewardStatus.REVIEW)
        .order_by(Reward.id)
    ).all()
    moved = 0
    for row in rows:
        rule = rule_of(row.program_version, row.rule)
        if rule is None or not rule.verified_email or rule.review:
            continue
        if row.review_status not in (None, ReviewStatus.CLEAR, ReviewStatus.CLEARED):
            continue
        problem = move(
            session,
            row.id,
            RewardStatus.PENDING,
            allowed=(RewardStatus.REVIEW,),
            actor_id=None,
            reason="email address verified",
            notices=notices,
        )
        moved += problem is None
    return moved


def email_verified(user) -> int:
    """Tell the plugin that a user's address is now verified (by the host's own
    verification): rewards that waited only for it return to pending.

    Call it after committing the host's verified state; takes a user or its id.
    Returns how many rewards moved.
    """
    from referral_site.referrals.rewards.lifecycle import Notices
    from referral_site.referrals.storage.db import user_pk_value
    from referral_site.referrals.storage.transactions import write_transaction

    user_id = user if isinstance(user, int | str) else user_pk_value(user)
    notices = Notices()
    with write_transaction() as session:
        moved = release_verified_rewards(session, user_id, notices)
    notices.send()
    return moved
