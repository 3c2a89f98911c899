"""The user's page /referrals: their link, figures, rewards and account controls."""

import json

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from referral_site.referrals.account import figures, qr
from referral_site.referrals.account import service as account
from referral_site.referrals.attribution import accounts
from referral_site.referrals.blueprint import bp
from referral_site.referrals.capture import visits
from referral_site.referrals.capture.cookies import visitor_id
from referral_site.referrals.emails.views import email_context
from referral_site.referrals.forms import DeleteAccountForm, VanityCodeForm
from referral_site.referrals.fraud import sightings
from referral_site.referrals.payouts.account_views import payouts_context
from referral_site.referrals.program import offer
from referral_site.referrals.program.cache import in_force
from referral_site.referrals.rewards import queries as reward_queries
from referral_site.referrals.users import current_user_id


def my_account_context(code_form: VanityCodeForm | None = None) -> dict:
    """What the _my_account.html partial needs, for the /referrals page."""
    return {
        "code_form": code_form or VanityCodeForm(formdata=None),
        "delete_form": DeleteAccountForm(formdata=None),
        "my_codes": account.user_codes(current_user_id()),
    }


@bp.before_app_request
def remember_signed_in_device():
    """Note the device and IP hash of signed-in sessions for the fraud signals.

    Costs no query once the session's marker shows them recorded (see sightings.py).
    """
    if request.endpoint is None or request.endpoint.endswith("static"):
        return
    if current_user.is_authenticated:
        sightings.note_signed_in_request(
            current_user_id(),
            visitor_id=visitor_id(),
            ip_hash=visits.hash_ip(request.remote_addr),
        )


@bp.route("/referrals/code", methods=["POST"])
@login_required
def choose_code():
    """Make a chosen code the user's primary one; a refusal shows at the field."""
    form = VanityCodeForm()
    if form.validate_on_submit():
        try:
            code = account.set_vanity_code(current_user_id(), form.code.data)
        except account.CodeRefused as error:
            form.code.errors.append(str(error))
        else:
            flash(f"Your code is now {code}; your older links still work.", "success")
            return redirect(url_for("referrals.mine"))
    # The page again, with the typed code and the reason beside the field (the
    # form posts to #choose-code, so the browser lands on it, not on the top).
    return _my_page(code_form=form), 400


@bp.route("/referrals/export")
@login_required
def export_data():
    """Download everything stored about the signed-in user, as JSON."""
    data = account.export_user_data(current_user_id())
    return Response(
        json.dumps(data, indent=2),
        mimetype="application/json",
        headers={
            "Content-Disposition": "attachment; filename=my-referral-data.json",
            "Cache-Control": "no-store",
        },
    )


@bp.route("/referrals")
@login_required
def mine():
    """The signed-in user's link, offer, figures, rewards and referred people."""
    return _my_page()


def _my_page(code_form: VanityCodeForm | None = None) -> str:
    user_id, per_page = current_user_id(), current_app.config["REFERRALS_PAGE_SIZE"]
    code = accounts.code_of(user_id)
    program = in_force()
    return render_template(
        "referrals/mine.html",
        link=url_for("referrals.follow", code=code, _external=True),
        code=code,
        offer=offer.referrer_offer(program),
        milestone=_next_milestone(program, user_id),
        summary=figures.referrer_summary(user_id),
        referred=figures.referred_users_page(
            user_id, request.args.get("page", 1, type=int), per_page
        ),
        my_rewards=reward_queries.my_rewards(
            user_id, request.args.get("rewards_page", 1, type=int), per_page
        ),
        **payouts_context(user_id),
        **my_account_context(code_form),
        **email_context(),
    )


def _next_milestone(program, user_id):
    if not any(rule.trigger == "milestone" for rule in program.rules):
        return None  # no query for programs without milestones
    return offer.next_milestone(program, figures.qualified_referrals(user_id))


@bp.route("/referrals/qr.svg")
@login_required
def qr_code():
    """The signed-in user's link as a QR code (SVG), shown inline or downloaded."""
    code = accounts.code_of(current_user_id())
    link = url_for("referrals.follow", code=code, _external=True)
    response = Response(qr.qr_svg(link), mimetype="image/svg+xml")
    if request.args.get("download"):
        name = f"referral-qr-{code}.svg"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
