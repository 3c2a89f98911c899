"""The console's people: the directory at /admin/referrers and each person's page.

A person's page shows their figures (reports/figures.py) and the admin's actions
on them (admin/people.py): notes, disable/enable, a new code, an adjustment.
"""

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from referral_site.referrals.account import service as account
from referral_site.referrals.admin import directory, people
from referral_site.referrals.billing import queries as billing_queries
from referral_site.referrals.blueprint import admin_required, bp
from referral_site.referrals.forms import (
    AccessForm,
    AdjustmentForm,
    AdminCodeForm,
    NoteForm,
)
from referral_site.referrals.reports import figures as reports
from referral_site.referrals.reports import revenue
from referral_site.referrals.reports.views import page_asked, period_asked
from referral_site.referrals.users import current_user_id


@bp.route("/admin/referrers")
@admin_required
def admin_referrers():
    """Find people by email, name, current or old code, or id; filter them."""
    wanted = directory.parse_search(request.args)
    return render_template(
        "referrals/admin_referrers.html",
        wanted=wanted,
        can_filter_disabled=directory.can_filter_disabled(),
        found=directory.search_people(
            wanted, page_asked(), current_app.config["REFERRALS_PAGE_SIZE"]
        ),
        match_limit=directory.MATCH_LIMIT,
    )


@bp.route("/admin/referrers/<referrals_user:user_id>")
@admin_required
def admin_referrer(user_id):
    """One person: funnel, rewards, referred people, notes and the admin's actions."""
    person = reports.referrer(user_id)
    if person is None:
        abort(404)
    period = period_asked()
    return render_template(
        "referrals/admin_referrer.html",
        person=person,
        period=period,
        presets=reports.PRESETS,
        funnel=reports.funnel(period, referrer_id=user_id),
        rewards=reports.rewards_by_status(period, user_id=user_id),
        revenue=revenue.referrer_revenue(period, user_id),
        referrals=reports.referrals_page(
            period, user_id, page_asked(), current_app.config["REFERRALS_PAGE_SIZE"]
        ),
        conversions=billing_queries.referrer_conversions(user_id),
        referred_by=reports.referred_by(user_id),
        codes=account.user_codes(user_id),
        notes=people.notes_of(user_id),
        disabled=people.is_disabled(user_id),
        can_disable=people.can_disable(),
        note_form=NoteForm(formdata=None),
        access_form=AccessForm(formdata=None, prefix="access"),
        code_form=AdminCodeForm(formdata=None),
        adjustment_form=AdjustmentForm(
            formdata=None, currency=current_app.config["REFERRALS_DEFAULT_CURRENCY"]
        ),
    )


def _back(user_id, message: str | None = None, category: str = "success"):
    if message:
        flash(message, category)
    return redirect(url_for("referrals.admin_referrer", user_id=user_id))


def _person_or_404(user_id) -> None:
    if reports.referrer(user_id) is None:
        abort(404)


def _form_errors(form) -> str:
    return " ".join(
        f"{form[name].label.text}: {errors[0]}" for name, errors in form.errors.items()
    )


@bp.route("/admin/referrers/<referrals_user:user_id>/notes", methods=["POST"])
@admin_required
def add_note(user_id):
    """Keep a note about a person."""
    _person_or_404(user_id)
    form = NoteForm()
    if not form.validate_on_submit():
        return _back(user_id, _form_errors(form) or "Write a note.", "error")
    people.add_note(user_id, form.body.data, author_id=current_user_id())
    return _back(user_id, "Note kept.")


@bp.route("/admin/referrers/<referrals_user:user_id>/access", methods=["POST"])
@admin_required
def set_access(user_id):
    """Disable or enable a person's account, with a reason."""
    _person_or_404(user_id)
    form = AccessForm(prefix="access")
    if not form.validate_on_submit():
        return _back(user_id, _form_errors(form) or "Give a reason.", "error")
    disable = bool(form.disable.data)
    try:
        people.set_disabled(
            user_id, disable, actor_id=current_user_id(), reason=form.reason.data
        )
    except people.ActionRefused as error:
        return _back(user_id, str(error), "error")
    return _back(user_id, "Account disabled." if disable else "Account enabled.")


@bp.route("/admin/referrers/<referrals_user:user_id>/code", methods=["POST"])
@admin_required
def change_code(user_id):
    """Give a person a new primary code (their old codes keep working)."""
    _person_or_404(user_id)
    form = AdminCodeForm()
    if not form.validate_on_submit():
        return _back(user_id, _form_errors(form) or "Type a code.", "error")
    try:
        code = people.change_code(user_id, form.code.data, actor_id=current_user_id())
    except people.ActionRefused as error:
        return _back(user_id, f"Code not changed: {error}", "error")
    return _back(user_id, f"Their code is now {code}; older links still work.")


@bp.route("/admin/referrers/<referrals_user:user_id>/adjust", methods=["POST"])
@admin_required
def adjust(user_id):
    """A manual reward or deduction, written to the reward history."""
    _person_or_404(user_id)
    form = AdjustmentForm()
    if not form.validate_on_submit():
        return _back(user_id, _form_errors(form) or "Check the adjustment.", "error")
    try:
        done = people.adjust_balance(
            user_id,
            form.minor_units(),
            form.currency.data,
            actor_id=current_user_id(),
            reason=form.reason.data,
        )
    except people.ActionRefused as error:
        return _back(user_id, str(error), "error")
    return _back(user_id, done)
