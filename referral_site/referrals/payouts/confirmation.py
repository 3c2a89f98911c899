"""Changes of payout details confirmed by email (when mail is on).

A change asked for with the password waits in ``payout_pending_details`` (one per
person) while a single-use link goes to the account's own address; following it
applies the change. So a stolen password alone cannot redirect payouts: the thief
would also need the mailbox. Until then the details in force stay as they were,
and batches use them.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, url_for
from sqlalchemy.exc import IntegrityError

from referral_site.referrals.emails import tokens
from referral_site.referrals.emails.models import TokenPurpose
from referral_site.referrals.emails.sending import links_context
from referral_site.referrals.payouts import details
from referral_site.referrals.payouts.models import PayoutMethod, PendingPayoutDetails
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import utcnow
from referral_site.referrals.storage.transactions import write_transaction
from referral_site.referrals.users import user_fields

log = logging.getLogger(__name__)
PURPOSE = TokenPurpose.PAYOUT_DETAILS


class NotSent(details.DetailsError):
    """The confirmation email could not leave; the change was dropped."""


class WrongAccount(Exception):
    """A confirmation link of another account than the signed-in one."""


@dataclass(frozen=True)
class PendingChange:
    """A change waiting for its link: the details asked for and where it went."""

    method: PayoutMethod
    paypal_email: str | None
    #: The account's address the link was sent to, masked (a***@example.com).
    sent_to: str
    created_at: datetime


def pending_of(user_id) -> PendingChange | None:
    """A person's change waiting for confirmation; None if there is none, or its
    link expired, or the account's address is no longer the one it went to."""
    row = db.session.get(PendingPayoutDetails, user_id)
    if row is None or not _in_force(row, _user(db.session, user_id)):
        return None
    return _shown(row)


def request_change(
    user_id, *, method: str, paypal_email: str, password: str, ip_hash: str | None
) -> PendingChange:
    """Keep a password-checked change pending and email its link to the account's
    own address; nothing changes until the link is followed. A newer request
    replaces the older (whose link stops working). DetailsError if refused."""
    chosen, email = details.checked_choice(method, paypal_email)
    try:
        with write_transaction(keep_loaded=True) as session:
            user = details.check_password(session, user_id, password)
            sent_to = user_fields().email(user)
            if not sent_to:
                raise details.DetailsError("Your account has no email address.")
            row = PendingPayoutDetails(
                user_id=user_id, method=chosen, paypal_email=email,
                sent_to=sent_to, ip_hash=ip_hash,
            )  # fmt: skip
            token = _replace(session, row)
    except IntegrityError:  # another request of theirs stored its change first
        raise details.DetailsError("Two changes crossed; try again.") from None
    _send_link(user_id, token, chosen, email)
    return _shown(row)


def _replace(session, row: PendingPayoutDetails) -> str:
    """Store row as the person's only pending change; the signed link to it."""
    tokens.spend_all(session, PURPOSE, row.user_id)
    session.execute(
        sa.delete(PendingPayoutDetails).where(
            PendingPayoutDetails.user_id == row.user_id
        )
    )
    session.add(row)
    session.flush()
    return tokens.issue(PURPOSE, row.user_id, session)


def _send_link(user_id, token: str, method: PayoutMethod, email: str | None) -> None:
    with links_context():
        link = url_for("referrals.confirm_payout_details", token=token, _external=True)
    try:
        sent = details.email_account(
            user_id, "payout_details_confirm", link=link, page_url=details.page_url(),
            summary=details.summary(method, email),
            hours=current_app.config["REFERRALS_PAYOUT_DETAILS_CONFIRM_HOURS"],
        )  # fmt: skip
    except Exception:
        log.exception("could not email the link confirming payout details")
        sent = False
    if not sent:
        # A change nobody can confirm would only say "awaiting" until it expires.
        cancel_change(user_id)
        raise NotSent(
            "We could not send the confirmation email; nothing was changed. "
            "Try again later."
        )


def pending_for_link(token: str, user_id) -> PendingChange:
    """The change a link would confirm for the signed-in user, without using it.

    InvalidLink if the link is forged, expired, used, or its change is gone
    (replaced, cancelled); WrongAccount if it is another account's link.
    """
    _check_owner(tokens.peek(PURPOSE, token), user_id)
    pending = pending_of(user_id)
    if pending is None:
        raise _gone()
    return pending


def confirm_change(token: str, user_id) -> details.Details:
    """Apply the change a link confirms, in one transaction: the details set and
    logged, the link used, the pending change deleted. InvalidLink or WrongAccount
    (as :func:`pending_for_link`) leave everything as it was."""
    with write_transaction() as session:
        _check_owner(tokens.use(session, PURPOSE, token), user_id)
        row = session.get(PendingPayoutDetails, user_id, with_for_update=True)
        if row is None or not _in_force(row, _user(session, user_id)):
            raise _gone()
        saved = details.apply_details(
            session, user_id, row.method, row.paypal_email, row.ip_hash
        )
        session.delete(row)
    return saved


def cancel_change(user_id) -> bool:
    """Drop a person's pending change and spend its link; whether there was one."""
    with write_transaction() as session:
        return drop_change(session, user_id)


def drop_change(session, user_id) -> bool:
    """cancel_change in the caller's transaction (a password reset drops a change
    asked for with the old password, which someone else may know)."""
    tokens.spend_all(session, PURPOSE, user_id)
    deleted = session.execute(
        sa.delete(PendingPayoutDetails).where(PendingPayoutDetails.user_id == user_id)
    )
    return deleted.rowcount > 0


def purge_lapsed(now: datetime | None = None) -> int:
    """Delete the changes whose link has expired (each holds a payout address
    nobody confirmed); returns how many. Daily, by the purge_payout_changes job."""
    cutoff = (now or utcnow()) - tokens.max_age(PURPOSE)
    with write_transaction() as session:
        deleted = session.execute(
            sa.delete(PendingPayoutDetails).where(
                PendingPayoutDetails.created_at < cutoff
            )
        )
    return deleted.rowcount


def _check_owner(owner, user_id) -> None:
    if owner != user_id:
        raise WrongAccount(
            "This link is for another account. Sign out, then open the link again "
            "and sign in to the account it was sent to."
        )


def _gone() -> tokens.InvalidLink:
    return tokens.InvalidLink(
        "This change no longer waits for confirmation (it was cancelled or replaced, "
        "or your account's email address changed): nothing was changed."
    )


def _user(session, user_id):
    return session.get(current_app.extensions["referrals"].user_model, user_id)


def _in_force(row: PendingPayoutDetails, user) -> bool:
    # The link proves the owner of the address it went to asked; once the host
    # changed the account's address, it proves nothing about the account.
    fresh = utcnow() - row.created_at < tokens.max_age(PURPOSE)
    return fresh and user is not None and user_fields().email(user) == row.sent_to


def _shown(row: PendingPayoutDetails) -> PendingChange:
    return PendingChange(
        row.method, row.paypal_email, details.masked(row.sent_to), row.created_at
    )
