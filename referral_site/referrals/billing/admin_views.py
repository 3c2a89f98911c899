"""The admin's billing page at /admin/billing: arrivals, outcomes, link and replay."""

from flask import abort, current_app, flash, redirect, render_template, url_for

from referral_site.referrals.billing import admin, queries
from referral_site.referrals.billing.forms import LinkEventForm, ReplayEventForm
from referral_site.referrals.blueprint import admin_required, bp


@bp.get("/admin/billing")
@admin_required
def admin_billing():
    """Whether Stripe's events arrive, what they came to, which need a hand."""
    return _page(LinkEventForm(), ReplayEventForm())


def _page(link_form, replay_form, status: int = 200):
    config = current_app.config
    return render_template(
        "referrals/admin_billing.html",
        overview=queries.overview(),
        enabled=bool(config["REFERRALS_STRIPE_WEBHOOK_SECRET"].strip()),
        livemode=config["REFERRALS_STRIPE_LIVEMODE"],
        link_form=link_form,
        replay_form=replay_form,
    ), status


@bp.post("/admin/billing/events/<referrals_id:event_id>/link")
@admin_required
def admin_billing_link(event_id: int):
    """Tie an unattributed event to a user and apply it."""
    form = LinkEventForm()
    if not form.validate_on_submit():
        return _refused(form, form, ReplayEventForm())
    return _done(lambda: admin.link_event(event_id, form.user.data), event_id)


@bp.post("/admin/billing/events/<referrals_id:event_id>/replay")
@admin_required
def admin_billing_replay(event_id: int):
    """Handle a stored event again."""
    form = ReplayEventForm()
    if not form.validate_on_submit():
        return _refused(form, LinkEventForm(), form)
    return _done(lambda: admin.replay_event(event_id), event_id)


def _refused(form, link_form, replay_form):
    """The page again, with what was wrong with the form (a 400)."""
    for field, errors in form.errors.items():
        label = "CSRF token" if field == "csrf_token" else field
        for error in errors:
            flash(f"{label}: {error}", "error")
    return _page(link_form, replay_form, 400)


def _done(action, event_id: int):
    try:
        result = action()
    except admin.EventNotFound:
        abort(404)
    except admin.BillingAdminError as error:
        flash(str(error), "error")
        return redirect(url_for("referrals.admin_billing")), 303
    flash(f"Event #{event_id}: {result.outcome.value}. {result.reason}", "success")
    return redirect(url_for("referrals.admin_billing")), 303
