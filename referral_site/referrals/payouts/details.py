"""A person's payout details: a PayPal address or store credit only, changed by
them with their password (and, with mail on, a link emailed to them:
confirmation.py), every change logged (masked). No bank numbers or tax ids."""

from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from flask import current_app, url_for

from referral_site.referrals.emails.sending import (
    OutgoingEmail,
    links_context,
    mail_enabled,
    render_email,
    send_email,
)
from referral_site.referrals.payouts.models import (
    PayoutAccount,
    PayoutDetailChange,
    PayoutMethod,
)
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import utcnow
from referral_site.referrals.storage.transactions import write_transaction
from referral_site.referrals.users import user_fields

#: Characters a spreadsheet reads as the start of a formula: the address goes into
#: CSV files an admin may open in one, so it may not start with them.
_FORMULA_STARTS = ("=", "+", "-", "@")


class DetailsError(Exception):
    """Payout details were refused; the message is safe to show."""


@dataclass(frozen=True)
class Details:
    """How a person is paid (None: they have not said)."""

    method: PayoutMethod
    paypal_email: str | None
    updated_at: datetime | None = None


def details_of(user_id) -> Details | None:
    """A person's payout details, or None when they gave none."""
    account = db.session.get(PayoutAccount, user_id)
    if account is None:
        return None
    return Details(account.method, account.paypal_email, account.updated_at)


def can_confirm() -> bool:
    """Whether the host's users have a password to confirm a change with."""
    return callable(getattr(current_app.extensions["referrals"].user_model,
                            "check_password", None))  # fmt: skip


def paypal_address(raw: str) -> str:
    """A PayPal address as typed, checked and normalised, or DetailsError."""
    raw = (raw or "").strip()
    if raw.startswith(_FORMULA_STARTS):
        raise DetailsError("An address cannot start with = + - or @.")
    try:
        checked = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as error:
        raise DetailsError(f"That is not an email address: {error}") from None
    if len(checked.normalized) > 127:  # PayPal's longest receiver
        raise DetailsError("PayPal accepts addresses of at most 127 characters.")
    return checked.normalized


def masked(email: str | None) -> str:
    """An address as the log and emails show it: a***@example.com."""
    if not email:
        return ""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def checked_choice(method: str, paypal_email: str) -> tuple[PayoutMethod, str | None]:
    """The method and PayPal address asked for, checked; DetailsError otherwise."""
    try:
        chosen = PayoutMethod(method)
    except ValueError:
        raise DetailsError("Choose PayPal or store credit.") from None
    email = paypal_address(paypal_email) if chosen == PayoutMethod.PAYPAL else None
    return chosen, email


def check_password(session, user_id, password: str):
    """The user, if this is their password; DetailsError otherwise."""
    if not can_confirm():
        raise DetailsError("Payout details cannot be changed here (no password).")
    user = session.get(current_app.extensions["referrals"].user_model, user_id)
    if user is None or not user.check_password(password or ""):
        raise DetailsError("That is not your password; nothing was changed.")
    return user


def apply_details(
    session, user_id, method: PayoutMethod, email: str | None, ip_hash: str | None
) -> Details:
    """Set a person's payout details inside the caller's transaction; logged."""
    account = session.get(PayoutAccount, user_id, with_for_update=True)
    if account is None:
        account = PayoutAccount(user_id=user_id)
        session.add(account)
    account.method, account.paypal_email = method, email
    account.updated_at = utcnow()
    session.add(
        PayoutDetailChange(
            user_id=user_id, method=method, detail=masked(email), ip_hash=ip_hash
        )
    )
    return Details(method, email)


def change_details(
    user_id, *, method: str, paypal_email: str, password: str, ip_hash: str | None
) -> Details:
    """Set a person's payout details at once after checking their password; logged.

    For hosts sending no email: with mail on, a change waits for the emailed link
    instead (payouts/confirmation.py).
    """
    chosen, email = checked_choice(method, paypal_email)
    with write_transaction() as session:
        check_password(session, user_id, password)
        return apply_details(session, user_id, chosen, email, ip_hash)


def summary(method: PayoutMethod, paypal_email: str | None) -> str:
    """Payout details in a few words for an email, the address masked."""
    if method == PayoutMethod.PAYPAL:
        return f"paid by PayPal to {masked(paypal_email)}"
    return "store credit only"


def notify_change(user_id, details: Details) -> bool:
    """Email the account's own address that its payout details changed (when mail
    is on): the receipt of a change confirmed from its link."""
    if not mail_enabled():
        return False
    return email_account(
        user_id, "payout_details_changed",
        summary=summary(details.method, details.paypal_email), page_url=page_url(),
    )  # fmt: skip


def email_account(user_id, template: str, **context) -> bool:
    """Send one of the payout emails to the account's own address."""
    user = db.session.get(current_app.extensions["referrals"].user_model, user_id)
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


def page_url() -> str:
    """The payout details card of /referrals, for links in emails."""
    with links_context():
        return url_for("referrals.mine", _anchor="payout-details", _external=True)
