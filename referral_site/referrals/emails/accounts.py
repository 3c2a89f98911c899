"""Account emails of the plugin's own pages: verification, password reset, and the
note to an address's owner when someone signs up with it again.

They are sent in the request that asks for them and are never optional. A send
that fails is logged, not shown: the page answers alike either way, so that it
tells nobody whether an address has an account.
"""

import sqlalchemy as sa
from flask import current_app, url_for

from referral_site.referrals.attribution.services import normalize_email
from referral_site.referrals.emails import tokens
from referral_site.referrals.emails.models import TokenPurpose
from referral_site.referrals.emails.sending import (
    OutgoingEmail,
    links_context,
    mail_enabled,
    render_email,
    send_email,
)
from referral_site.referrals.storage.db import db, user_pk_value
from referral_site.referrals.users import user_fields, user_sql


def user_by_email(email: str):
    """The host's user with this address (as stored: trimmed, lower-cased)."""
    User = current_app.extensions["referrals"].user_model
    return db.session.scalar(
        sa.select(User).where(user_sql(User).email == normalize_email(email))
    )


def _send(user, template: str, **context) -> bool:
    fields = user_fields()
    rendered = render_email(template, name=fields.name(user), **context)
    message = OutgoingEmail(
        to=fields.email(user),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
    )
    try:
        return send_email(message)
    except Exception:  # SMTP down: logged; the page must answer the same anyway
        current_app.logger.exception("could not send the %s email", template)
        return False


def _link(endpoint: str, purpose: TokenPurpose, user) -> str:
    token = tokens.issue(purpose, user_pk_value(user))
    with links_context():
        return url_for(endpoint, token=token, _external=True)


def send_verification(user) -> bool:
    """Email a user the link that confirms their address (and signs them in)."""
    if not mail_enabled() or user_fields().email_verified_attribute is None:
        return False
    link = _link("referrals.verify_email", TokenPurpose.VERIFY_EMAIL, user)
    hours = current_app.config["REFERRALS_VERIFY_EMAIL_HOURS"]
    return _send(user, "verify_email", link=link, hours=hours)


def send_password_reset(email: str) -> bool:
    """Email the owner of an address a reset link; nothing if it has no account."""
    user = user_by_email(email)
    if user is None or not mail_enabled():
        return False
    link = _link("referrals.reset_password", TokenPurpose.PASSWORD_RESET, user)
    minutes = current_app.config["REFERRALS_PASSWORD_RESET_MINUTES"]
    return _send(user, "password_reset", link=link, minutes=minutes)


def send_signup_attempt_notice(email: str) -> bool:
    """Tell an address's owner that someone tried to sign up with it."""
    user = user_by_email(email)
    if user is None or not mail_enabled():
        return False
    manager = getattr(current_app, "login_manager", None)
    login_view = getattr(manager, "login_view", None)
    with links_context():
        login = url_for(login_view, _external=True) if login_view else None
        forgot = url_for("referrals.forgot_password", _external=True)
    return _send(user, "account_exists", login_url=login, reset_url=forgot)
