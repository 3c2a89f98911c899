"""Signed links: one-click unsubscribe (no expiry) and account links (expiring, used
once: password reset, email verification, confirming new payout details)."""

import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

from referral_site.referrals.emails.models import (
    EmailCategory,
    EmailToken,
    TokenPurpose,
)
from referral_site.referrals.storage.models import utcnow
from referral_site.referrals.storage.transactions import write_transaction


class InvalidLink(Exception):
    """A link that was tampered with, has expired or was used already."""


def _unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="referrals-unsubscribe")


def unsubscribe_token(user_id, category: EmailCategory) -> str:
    """The signed part of a user's unsubscribe link for one category."""
    return _unsubscribe_serializer().dumps([user_id, category.value])


def read_unsubscribe_token(token: str) -> tuple[object, EmailCategory]:
    """The user id and category of an unsubscribe link; InvalidLink if forged."""
    try:
        user_id, category = _unsubscribe_serializer().loads(token)
        return user_id, EmailCategory(category)
    except (BadSignature, ValueError, TypeError):
        raise InvalidLink("This unsubscribe link is not valid.") from None


#: The setting giving each account link's lifetime, and its unit.
_LIFETIMES = {
    TokenPurpose.PASSWORD_RESET: ("REFERRALS_PASSWORD_RESET_MINUTES", "minutes"),
    TokenPurpose.VERIFY_EMAIL: ("REFERRALS_VERIFY_EMAIL_HOURS", "hours"),
    TokenPurpose.PAYOUT_DETAILS: ("REFERRALS_PAYOUT_DETAILS_CONFIRM_HOURS", "hours"),
}


def max_age(purpose: TokenPurpose) -> timedelta:
    """How long an account link stays valid."""
    setting, unit = _LIFETIMES[purpose]
    return timedelta(**{unit: current_app.config[setting]})


def _account_serializer(purpose: TokenPurpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.secret_key, salt=f"referrals-{purpose.value}"
    )


def issue(purpose: TokenPurpose, user_id, session=None) -> str:
    """Store a new single-use token for a user and return its signed form: in the
    caller's transaction (``session``) if given, else in one of its own."""
    nonce = secrets.token_urlsafe(32)
    row = EmailToken(id=nonce, purpose=purpose, user_id=user_id)
    if session is not None:
        session.add(row)
    else:
        with write_transaction() as own:
            own.add(row)
    return _account_serializer(purpose).dumps(nonce)


def _nonce(purpose: TokenPurpose, token: str) -> str:
    try:
        return _account_serializer(purpose).loads(
            token, max_age=int(max_age(purpose).total_seconds())
        )
    except BadSignature:
        raise InvalidLink(
            "This link is not valid or has expired: ask for a new one."
        ) from None


def peek(purpose: TokenPurpose, token: str):
    """The user a still-unused account link is for; InvalidLink otherwise."""
    from referral_site.referrals.storage.db import db

    user_id = db.session.scalar(
        sa.select(EmailToken.user_id).where(
            EmailToken.id == _nonce(purpose, token),
            EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None),
        )
    )
    if user_id is None:
        raise InvalidLink("This link was used already: ask for a new one.")
    return user_id


def use(session, purpose: TokenPurpose, token: str):
    """Mark an account link used, inside the caller's transaction; its user's id.

    The conditional UPDATE is what makes it single-use: of two clicks racing,
    one changes the row and the other finds it used. Every other unused link of
    the same purpose for that user is spent with it.
    """
    nonce = _nonce(purpose, token)
    user_id = session.scalar(
        sa.select(EmailToken.user_id).where(
            EmailToken.id == nonce, EmailToken.purpose == purpose
        )
    )
    spent = session.execute(
        sa.update(EmailToken)
        .where(EmailToken.id == nonce, EmailToken.used_at.is_(None))
        .values(used_at=utcnow())
    ).rowcount
    if user_id is None or spent != 1:
        raise InvalidLink("This link was used already: ask for a new one.")
    spend_all(session, purpose, user_id)
    return user_id


def spend_all(session, purpose: TokenPurpose, user_id) -> None:
    """Mark every unused link of this purpose for a user used, inside the caller's
    transaction: none of them works any more."""
    session.execute(
        sa.update(EmailToken)
        .where(
            EmailToken.user_id == user_id,
            EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
