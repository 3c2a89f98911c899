"""The person's side of payouts on /referrals: what they are owed and were paid,
and their payout details (changed with their password and, when mail is on,
confirmed from a link emailed to them)."""

import logging
from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import login_required

from referral_site.referrals.attribution.services import hash_ip
from referral_site.referrals.blueprint import bp
from referral_site.referrals.emails.sending import mail_enabled
from referral_site.referrals.emails.tokens import InvalidLink
from referral_site.referrals.forms import ConfirmForm
from referral_site.referrals.limits import rate_limited
from referral_site.referrals.payouts import (
    confirmation,
    credit,
    details,
    queries,
    settings,
)
from referral_site.referrals.payouts.forms import PayoutDetailsForm
from referral_site.referrals.storage.models import utcnow
from referral_site.referrals.users import current_user_id

log = logging.getLogger(__name__)
#: The form's field names start with it: /referrals has another password field.
PREFIX = "payout"


def payouts_context(user_id, today: date | None = None) -> dict:
    """What the _my_payouts.html partial needs, for the /referrals page."""
    mine = details.details_of(user_id)
    form = PayoutDetailsForm(
        formdata=None,
        prefix=PREFIX,
        method=mine.method.value if mine else None,
        paypal_email=(mine.paypal_email or "") if mine else "",
    )
    editable = details.can_confirm()
    return {
        "payout_due": queries.my_due(user_id),
        "payout_schedule": settings.schedule(today or utcnow().date()),
        "payouts_made": queries.my_payouts(user_id),
        "payout_details": mine,
        "payout_details_form": form,
        "payout_details_editable": editable,
        "payout_details_hint": _password_hint(),
        "payout_details_pending": confirmation.pending_of(user_id)
        if editable
        else None,
        "payout_cancel_form": ConfirmForm(formdata=None),
        "store_credit": credit.store_credit(
            user_id, method=mine.method if mine else None
        ),
    }


def _password_hint() -> str:
    if mail_enabled():
        return "Your password, then a link we email you, confirm the change."
    return "Your password confirms the change."


@bp.route("/referrals/payout-details", methods=["POST"])
@login_required
@rate_limited("LOGIN")  # a password check: a stolen session may not guess on
def change_payout_details():
    """Change how the signed-in user is paid, after checking their password: at
    once without mail, else once confirmed from the link emailed to them."""
    form = PayoutDetailsForm(prefix=PREFIX)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return _back()
    asked = {
        "method": form.method.data,
        "paypal_email": form.paypal_email.data or "",
        "password": form.password.data,
        "ip_hash": hash_ip(request.remote_addr),
    }
    try:
        flash(_change_or_hold(asked), "success")
    except details.DetailsError as error:
        flash(str(error), "error")
    return _back()


def _change_or_hold(asked: dict) -> str:
    """Apply the change (mail off) or hold it for its emailed link; what to say."""
    if not mail_enabled():
        details.change_details(current_user_id(), **asked)
        return "Your payout details are saved."
    pending = confirmation.request_change(current_user_id(), **asked)
    return (
        f"Check your email: we sent a link to {pending.sent_to} to confirm the "
        "change. Your details stay as they are until then."
    )


@bp.route("/referrals/payout-details/confirm/<token>", methods=["GET", "POST"])
@login_required
def confirm_payout_details(token: str):
    """A link from the confirmation email: GET shows the change and a button (mail
    scanners open links), POST applies it.

    The token names the account; the change is confirmed only by that account
    signed in. Anonymous people are sent to sign in first (Flask-Login comes back
    here), and someone signed in to another account is refused: a link forwarded,
    or opened in a browser someone else left signed in, must not change the
    payout details of the account the browser shows, nor confirm a change without
    showing its owner what it is.
    """
    form = ConfirmForm()
    if request.method == "GET":
        return _confirm_page(token, form)
    if not form.validate_on_submit():
        abort(400)
    try:
        saved = confirmation.confirm_change(token, current_user_id())
    except (InvalidLink, confirmation.WrongAccount) as error:
        return _link_refused(error)
    _send_receipt(current_user_id(), saved)
    flash("Your new payout details are confirmed and in effect.", "success")
    return _back()


def _confirm_page(token: str, form: ConfirmForm):
    try:
        pending = confirmation.pending_for_link(token, current_user_id())
    except (InvalidLink, confirmation.WrongAccount) as error:
        return _link_refused(error)
    return render_template(
        "referrals/payout_details_confirm.html", form=form, pending=pending
    )


@bp.route("/referrals/payout-details/cancel", methods=["POST"])
@login_required
def cancel_payout_details():
    """Drop the signed-in user's change awaiting confirmation (its link too)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if confirmation.cancel_change(current_user_id()):
        flash("The change is cancelled; your payout details stay as they are.",
              "success")  # fmt: skip
    return _back()


def _link_refused(error: Exception):
    # 403 for another account's link, 400 for one that is not (or no longer) valid.
    status = 403 if isinstance(error, confirmation.WrongAccount) else 400
    page = render_template("referrals/payout_details_confirm.html", error=str(error))
    return page, status


def _back():
    return redirect(url_for("referrals.mine", _anchor="payout-details"))


def _send_receipt(user_id, saved) -> None:
    # The change is saved either way: a mail server that is down must not undo it.
    try:
        details.notify_change(user_id, saved)
    except Exception:
        log.exception("could not email the change of payout details")
