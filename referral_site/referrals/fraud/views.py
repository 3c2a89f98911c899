"""/admin/fraud: flagged referrals with their reasons; admins clear or confirm them."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import generate_csrf

from referral_site.referrals.blueprint import admin_required, bp
from referral_site.referrals.forms import ReviewForm
from referral_site.referrals.fraud import queue as fraud_queue
from referral_site.referrals.fraud import review as fraud
from referral_site.referrals.input_checks import CONTROL_CHARACTERS_MESSAGE
from referral_site.referrals.storage.models import ReviewStatus
from referral_site.referrals.users import current_user_id

#: The lists an admin can open, by the value in ?status=.
_LISTS = {
    "flagged": ReviewStatus.FLAGGED,
    "cleared": ReviewStatus.CLEARED,
    "confirmed": ReviewStatus.CONFIRMED,
}


@bp.route("/admin/fraud")
@admin_required
def fraud_review():
    """Referrals in one review status (flagged by default), with signals and history."""
    status = _LISTS.get(request.args.get("status", "flagged"))
    if status is None:
        abort(404)
    page = fraud_queue.review_page(
        status,
        request.args.get("page", 1, type=int),
        current_app.config["REFERRALS_PAGE_SIZE"],
    )
    ids = [row.id for row in page.items]
    return render_template(
        "referrals/fraud.html",
        status=status,
        lists=_LISTS,
        page=page,
        signals=fraud_queue.signals_by_referral(ids),
        history=fraud_queue.history_by_referral(ids),
        # One token for the page's many small forms (each a ReviewForm when
        # posted): Flask-WTF's own, so the host needs no app-wide CSRFProtect.
        review_token=generate_csrf(),
    )


@bp.route("/admin/fraud/<referrals_id:referral_id>/clear", methods=["POST"])
@admin_required
def clear_flag(referral_id: int):
    """Let one flagged referral through, with the admin's reason."""
    return _decide(referral_id, fraud.clear_flag, "cleared")


@bp.route("/admin/fraud/<referrals_id:referral_id>/confirm", methods=["POST"])
@admin_required
def confirm_flag(referral_id: int):
    """Confirm one flagged referral as abuse, with the admin's reason."""
    return _decide(referral_id, fraud.confirm_flag, "confirmed as abuse")


def _decide(referral_id: int, service, done: str):
    form = ReviewForm()
    if not form.validate_on_submit():
        flash(_reason_problem(form), "error")
        return redirect(url_for("referrals.fraud_review"))
    try:
        service(referral_id, admin_id=current_user_id(), reason=form.reason.data)
    except fraud.ReferralNotFound:
        abort(404)
    except fraud.ReviewError as error:
        flash(str(error), "error")
    else:
        flash(f"Referral #{referral_id} {done}.", "success")
    return redirect(url_for("referrals.fraud_review"))


def _reason_problem(form: ReviewForm) -> str:
    if CONTROL_CHARACTERS_MESSAGE in form.reason.errors:
        return CONTROL_CHARACTERS_MESSAGE
    return "Give a reason for the decision (up to 500 characters)."
