"""What admins do to one person: notes, disabling, their code, adjustments."""

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.account import service as account
from referral_site.referrals.admin.models import NOTE_MAX_LENGTH, ReferrerNote
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.rewards.money import format_money
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.transactions import write_transaction
from referral_site.referrals.users import user_fields, user_sql


class ActionRefused(Exception):
    """An admin's action on a person was refused; the message is safe to show."""


def notes_of(user_id) -> list:
    """The notes about a person, newest first, with their authors' names."""
    User = current_app.extensions["referrals"].user_model
    author = user_sql(User)
    return list(
        db.session.execute(
            sa.select(ReferrerNote.body, ReferrerNote.created_at, author.name)
            .outerjoin(User, author.id == ReferrerNote.author_id)
            .where(ReferrerNote.user_id == user_id)
            .order_by(ReferrerNote.created_at.desc(), ReferrerNote.id.desc())
        )
    )


def add_note(user_id, body: str, *, author_id) -> None:
    """Keep a note about a person (notes are never edited, only added)."""
    body = (body or "").strip()
    if not body or len(body) > NOTE_MAX_LENGTH:
        raise ActionRefused(f"Write a note of 1 to {NOTE_MAX_LENGTH:,} characters.")
    with write_transaction() as session:
        session.add(ReferrerNote(user_id=user_id, author_id=author_id, body=body))


def can_disable() -> bool:
    """Whether the host lets the console disable accounts."""
    state = current_app.extensions["referrals"]
    return state.set_user_disabled is not None and user_fields().is_disabled is not None


def is_disabled(user_id) -> bool | None:
    """Whether a person's account is disabled (None if the host cannot say)."""
    fields = user_fields()
    if fields.is_disabled is None:
        return None
    User = current_app.extensions["referrals"].user_model
    user = user_sql(User)
    return bool(
        db.session.scalar(sa.select(fields.is_disabled(User)).where(user.id == user_id))
    )


def set_disabled(user_id, disabled: bool, *, actor_id, reason: str) -> None:
    """Disable (or enable) an account through the host, and note who and why."""
    if not can_disable():
        raise ActionRefused("This site manages its accounts elsewhere.")
    if user_id == actor_id and disabled:
        raise ActionRefused("You cannot disable your own account.")
    reason = (reason or "").strip()
    if not reason:
        raise ActionRefused("Give a reason.")
    current_app.extensions["referrals"].set_user_disabled(user_id, disabled)
    word = "Disabled" if disabled else "Enabled"
    add_note(
        user_id, f"{word} the account: {reason}"[:NOTE_MAX_LENGTH], author_id=actor_id
    )


def change_code(user_id, wanted: str, *, actor_id) -> str:
    """Give a person a new primary code; their older codes keep working."""
    try:
        code = account.set_vanity_code(user_id, wanted, capped=False)
    except account.CodeRefused as error:
        raise ActionRefused(str(error)) from None
    add_note(user_id, f"Changed the referral code to {code}.", author_id=actor_id)
    return code


def adjust_balance(user_id, amount_minor: int, currency: str, *, actor_id, reason):
    """A manual reward (positive) or deduction (negative); returns a sentence."""
    try:
        reward_id = rewards.adjust(
            user_id, amount_minor, currency, actor_id=actor_id, reason=reason
        )
    except rewards.RewardError as error:
        raise ActionRefused(str(error)) from None
    what = "Reward" if amount_minor > 0 else "Deduction"
    money = format_money(abs(amount_minor), currency.upper())
    return f"{what} of {money} recorded as reward #{reward_id}."
