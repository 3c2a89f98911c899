"""Account use cases of the site: authentication and session ending."""

import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.models import User
from referral_site.passwords import hash_password, verify_password
from referral_site.referrals.services import normalize_email
from referral_site.referrals.transactions import write_transaction


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
