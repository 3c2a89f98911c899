"""/admin/fraud: flagged referrals with their reasons; admins clear or confirm them."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import generate_csrf

from referral_site.referrals.blueprint import admin_required, bp
from referral_site.referrals.forms import BulkReviewForm, ReviewForm
from referral_site.referrals.fraud import blocklist
from referral_site.referrals.fraud import queue as fraud_queue
from referral_site.referrals.fraud import review as fraud
from referral_site.referrals.input_checks import CONTROL_CHARACTERS_MESSAGE
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.rewards.money import format_money
from referral_site.referrals.storage.models import ReviewStatus
from referral_site.referrals.users import current_user_id

#: The lists an admin can open, by the value in ?status=.
_LISTS = {
    "flagged": ReviewStatus.FLAGGED,
    "cleared": ReviewStatus.CLEARED,
    "confirmed": ReviewStatus.CONFIRMED,
}
#: The services behind the two decisions, and how a decision reads once made.
_DECISIONS = {
    "clear": (fraud.clear_flag, "cleared"),
    "confirm": (fraud.confirm_flag, "confirmed as abuse"),
}


@bp.route("/admin/fraud")
@admin_required
def fraud_review():
    """Referrals in one review status (flagged by default): one compact row each."""
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
        form=BulkReviewForm(formdata=None),
        # Flask-WTF's own token, so the host needs no app-wide CSRFProtect.
        review_token=generate_csrf(),
        signals=fraud_queue.signals_by_referral(ids),
        history=fraud_queue.history_by_referral(ids),
        affected=fraud_queue.rewards_by_referral(ids),
        blocked=blocklist.entries(),
    )


@bp.route("/admin/fraud/decide", methods=["POST"])
@admin_required
def decide_flags():
    """Clear or confirm the selected flagged referrals, all with one reason."""
    form = BulkReviewForm()
    if not form.validate_on_submit() or form.decision is None:
        for error in form.referral_ids.errors or ["Give a reason for the decision."]:
            flash(error, "error")
        return redirect(url_for("referrals.fraud_review"))
    service, done = _DECISIONS[form.decision]
    decided = []
    for referral_id in sorted(set(form.referral_ids.data)):
        try:
            service(referral_id, admin_id=current_user_id(), reason=form.reason.data)
        except fraud.ReviewError as error:
            flash(f"Referral #{referral_id}: {error}", "error")
        else:
            decided.append(referral_id)
    if decided:
        noun = "referral" if len(decided) == 1 else "referrals"
        flash(f"{len(decided):,} {noun} {done}.", "success")
        _warn_of_paid_rewards(decided, form.decision)
    return redirect(url_for("referrals.fraud_review"))


@bp.route("/admin/fraud/<referrals_id:referral_id>/clear", methods=["POST"])
@admin_required
def clear_flag(referral_id: int):
    """Let one flagged referral through, with the admin's reason."""
    return _decide(referral_id, "clear")


@bp.route("/admin/fraud/<referrals_id:referral_id>/confirm", methods=["POST"])
@admin_required
def confirm_flag(referral_id: int):
    """Confirm one flagged referral as abuse, with the admin's reason."""
    return _decide(referral_id, "confirm")


def _decide(referral_id: int, decision: str):
    form = ReviewForm()
    if not form.validate_on_submit():
        flash(_reason_problem(form), "error")
        return redirect(url_for("referrals.fraud_review"))
    service, done = _DECISIONS[decision]
    try:
        service(referral_id, admin_id=current_user_id(), reason=form.reason.data)
    except fraud.ReferralNotFound:
        abort(404)
    except fraud.ReviewError as error:
        flash(str(error), "error")
    else:
        flash(f"Referral #{referral_id} {done}.", "success")
        _warn_of_paid_rewards([referral_id], decision)
    return redirect(url_for("referrals.fraud_review"))


def _reason_problem(form: ReviewForm) -> str:
    if CONTROL_CHARACTERS_MESSAGE in form.reason.errors:
        return CONTROL_CHARACTERS_MESSAGE
    return "Give a reason for the decision (up to 500 characters)."


def _warn_of_paid_rewards(referral_ids: list[int], decision: str) -> None:
    """Abuse confirmed on rewards already paid: rejecting cannot undo a payment."""
    if decision != "confirm":
        return
    for referral_id, paid in rewards.paid_not_clawed_back(referral_ids).items():
        if paid:
            listed = ", ".join(
                f"#{row.id} ({format_money(row.amount_minor, row.currency)})"
                for row in paid
            )
            flash(
                f"Referral #{referral_id} had rewards already paid: {listed}. They "
                "stay paid until you claw them back: see “Paid, not clawed back” "
                "in the confirmed list, or open each reward.",
                "error",
            )
