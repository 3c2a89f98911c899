"""Account use cases of the site: authentication and session ending."""

import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.models import User
from referral_site.passwords import hash_password, verify_password
from referral_site.referrals import (
    normalize_email,
    restore_user,
    suspend_user,
    utcnow,
    write_transaction,
)


def authenticate(email: str, password: str) -> User | None:
    """The user with these credentials, or None; upgrades an outdated hash."""
    user = db.session.scalar(
        sa.select(User).where(User.email == normalize_email(email))
    )
    if not verify_password(user.password_hash if user else None, password):
        return None
    if user.password_needs_rehash():
        with write_transaction():
            user = db.session.get(User, user.id)
            user.password_hash = hash_password(password)
    return user


def end_all_sessions(user_id: int) -> None:
    """Invalidate every session and remember-me cookie of a user."""
    with write_transaction():
        db.session.get(User, user_id).rotate_session_token()


class UnknownAccount(LookupError):
    """No account has this email."""


def set_disabled(email: str, disabled: bool) -> User:
    """Disable an account by its email (ending its sessions) or enable it again."""
    user_id = db.session.scalar(
        sa.select(User.id).where(User.email == normalize_email(email))
    )
    if user_id is None:
        raise UnknownAccount(f"No account with the email {email}.")
    return set_disabled_by_id(user_id, disabled)


def set_disabled_by_id(user_id: int, disabled: bool) -> User:
    """Disable an account (ending its sessions) or enable it again.

    A disabled account keeps its data, referrals and rewards, but cannot sign in
    and its referral codes lead nowhere and earn nothing meanwhile. Its session
    token rotates, so every session and remember-me cookie ends now, not when the
    user next signs out. The referral console calls this too.
    """
    with write_transaction():
        user = db.session.get(User, user_id, with_for_update=True)
        if user is None:
            raise UnknownAccount(f"No account with the id {user_id}.")
        if disabled and user.disabled_at is None:
            user.disabled_at = utcnow()
            user.rotate_session_token()
            suspend_user(user)
        elif not disabled:
            user.disabled_at = None
            restore_user(user)
    return user
