"""A person's payout details: a PayPal address or store credit only, changed by
them with their password, every change logged (masked). No bank numbers or tax ids."""

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


def _masked(email: str | None) -> str:
    if not email:
        return ""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def change_details(
    user_id, *, method: str, paypal_email: str, password: str, ip_hash: str | None
) -> Details:
    """Set a person's payout details after checking their password; logged."""
    try:
        chosen = PayoutMethod(method)
    except ValueError:
        raise DetailsError("Choose PayPal or store credit.") from None
    email = paypal_address(paypal_email) if chosen == PayoutMethod.PAYPAL else None
    if not can_confirm():
        raise DetailsError("Payout details cannot be changed here (no password).")
    User = current_app.extensions["referrals"].user_model
    with write_transaction() as session:
        user = session.get(User, user_id)
        if user is None or not user.check_password(password or ""):
            raise DetailsError("That is not your password; nothing was changed.")
        account = session.get(PayoutAccount, user_id, with_for_update=True)
        if account is None:
            account = PayoutAccount(user_id=user_id)
            session.add(account)
        account.method, account.paypal_email = chosen, email
        account.updated_at = utcnow()
        session.add(
            PayoutDetailChange(
                user_id=user_id, method=chosen, detail=_masked(email), ip_hash=ip_hash
            )
        )
    return Details(chosen, email)


def notify_change(user_id, details: Details) -> bool:
    """Email the account's own address that its payout details changed (when mail
    is on), so a stolen password cannot redirect payouts unnoticed."""
    if not mail_enabled():
        return False
    user = db.session.get(current_app.extensions["referrals"].user_model, user_id)
    fields = user_fields()
    summary = (
        f"paid by PayPal to {_masked(details.paypal_email)}"
        if details.method == PayoutMethod.PAYPAL
        else "store credit only"
    )
    with links_context():
        page_url = url_for("referrals.mine", _anchor="payout-details", _external=True)
    rendered = render_email(
        "payout_details_changed", name=fields.name(user), summary=summary,
        page_url=page_url,
    )  # fmt: skip
    return send_email(
        OutgoingEmail(
            to=fields.email(user),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
        )
    )
