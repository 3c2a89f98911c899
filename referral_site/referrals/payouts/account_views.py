"""The person's side of payouts on /referrals: what they are owed and were paid,
and their payout details (changed with their password)."""

import logging
from datetime import date

from flask import flash, redirect, request, url_for
from flask_login import login_required

from referral_site.referrals.attribution.services import hash_ip
from referral_site.referrals.blueprint import bp
from referral_site.referrals.payouts import credit, details, queries, settings
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
    return {
        "payout_due": queries.my_due(user_id),
        "payout_schedule": settings.schedule(today or utcnow().date()),
        "payouts_made": queries.my_payouts(user_id),
        "payout_details": mine,
        "payout_details_form": form,
        "payout_details_editable": details.can_confirm(),
        "store_credit": credit.store_credit(
            user_id, method=mine.method if mine else None
        ),
    }


@bp.route("/referrals/payout-details", methods=["POST"])
@login_required
def change_payout_details():
    """Change how the signed-in user is paid, after checking their password."""
    form = PayoutDetailsForm(prefix=PREFIX)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("referrals.mine", _anchor="payout-details"))
    try:
        saved = details.change_details(
            current_user_id(),
            method=form.method.data,
            paypal_email=form.paypal_email.data or "",
            password=form.password.data,
            ip_hash=hash_ip(request.remote_addr),
        )
    except details.DetailsError as error:
        flash(str(error), "error")
    else:
        _tell_by_email(current_user_id(), saved)
        flash("Your payout details are saved.", "success")
    return redirect(url_for("referrals.mine", _anchor="payout-details"))


def _tell_by_email(user_id, saved) -> None:
    # The change is saved either way: a mail server that is down must not undo it.
    try:
        details.notify_change(user_id, saved)
    except Exception:
        log.exception("could not email the change of payout details")
