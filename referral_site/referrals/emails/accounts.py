"""Account emails of the plugin's own pages: verification, password reset, and the
note to an address's owner when someone signs up with it again.

They are never optional. The signup and the forgotten-password pages hand them to
the task queue (:func:`queue_account_email`): the page then does the same work,
in the same time, whether or not the address has an account, and a failed send is
retried by the queue rather than shown.
"""

import logging

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

log = logging.getLogger(__name__)

#: What a queued account email is: a new account's verification, a password reset,
#: or the note to the owner of an address someone tried to sign up with.
VERIFY, RESET, TAKEN = "verify", "reset", "taken"


def queue_account_email(kind: str, address: str) -> None:
    """Send an account email from the task queue (inline if the queue is down)."""
    if not mail_enabled():
        return
    from referral_site.referrals.jobs.queue import TASKS

    try:
        current_app.extensions[TASKS].account_email(kind, address)
    except Exception:  # the queue's storage is down: send it now instead
        log.exception("could not queue the %s email; sending it now", kind)
        send_now(kind, address, quiet=True)


def send_now(kind: str, address: str, *, quiet: bool = False) -> bool:
    """Send an account email for an address (nothing if it has no account).

    Raises on a failed send, for the queue to retry, unless ``quiet``.
    """
    user = user_by_email(address)
    if user is None:
        return False
    send = {
        VERIFY: send_verification,
        RESET: send_password_reset,
        TAKEN: send_signup_attempt_notice,
    }[kind]
    try:
        return send(user)
    except Exception:
        if not quiet:
            raise
        log.exception("could not send the %s email", kind)
        return False


def user_by_email(email: str):
    """The host's user with this address (as stored: trimmed, lower-cased)."""
    User = current_app.extensions["referrals"].user_model
    return db.session.scalar(
        sa.select(User).where(user_sql(User).email == normalize_email(email))
    )


def _send(user, template: str, **context) -> bool:
    fields = user_fields()
    rendered = render_email(template, name=fields.name(user), **context)
    return send_email(
        OutgoingEmail(
            to=fields.email(user),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
        )
    )


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


def send_password_reset(user) -> bool:
    """Email a user a link to choose a new password."""
    if not mail_enabled():
        return False
    link = _link("referrals.reset_password", TokenPurpose.PASSWORD_RESET, user)
    minutes = current_app.config["REFERRALS_PASSWORD_RESET_MINUTES"]
    return _send(user, "password_reset", link=link, minutes=minutes)


def send_signup_attempt_notice(user) -> bool:
    """Tell an address's owner that someone tried to sign up with it."""
    if not mail_enabled():
        return False
    manager = getattr(current_app, "login_manager", None)
    login_view = getattr(manager, "login_view", None)
    with links_context():
        login = url_for(login_view, _external=True) if login_view else None
        forgot = url_for("referrals.forgot_password", _external=True)
    return _send(user, "account_exists", login_url=login, reset_url=forgot)
