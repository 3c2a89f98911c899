"""/admin/webhooks: endpoints, their secrets, deliveries and every attempt."""

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from referral_site.referrals.blueprint import admin_required, bp
from referral_site.referrals.outbox.events import WAKE_UP
from referral_site.referrals.webhooks import endpoints as service
from referral_site.referrals.webhooks.delivery import SCHEDULE
from referral_site.referrals.webhooks.forms import ActionForm, EndpointForm


def _fields(form: EndpointForm) -> service.EndpointFields:
    return service.EndpointFields(
        url=form.url.data,
        description=form.description.data or "",
        event_types=list(form.event_types.data or []),
        enabled=bool(form.enabled.data),
    )


@bp.route("/admin/webhooks", methods=["GET", "POST"])
@admin_required
def admin_webhooks():
    """The endpoints, and a form to add one."""
    form = EndpointForm()
    if form.validate_on_submit():
        try:
            endpoint_id = service.create_endpoint(_fields(form))
        except service.WebhookError as error:
            form.url.errors.append(str(error))
        else:
            flash("Endpoint added. Give its secret to the receiver.", "success")
            return redirect(url_for("referrals.admin_webhook", endpoint_id=endpoint_id))
    status = 400 if form.errors or request.method == "POST" else 200
    return render_template(
        "referrals/admin_webhooks.html",
        form=form,
        endpoints=service.endpoints(),
        schedule=SCHEDULE,
    ), status


@bp.route("/admin/webhooks/<referrals_id:endpoint_id>", methods=["GET", "POST"])
@admin_required
def admin_webhook(endpoint_id: int):
    """One endpoint: its settings, secret, deliveries and their attempts."""
    endpoint = _endpoint_or_404(endpoint_id)
    form = EndpointForm(obj=None if request.method == "POST" else endpoint)
    if form.validate_on_submit():
        try:
            service.update_endpoint(endpoint_id, _fields(form))
        except service.WebhookError as error:
            form.url.errors.append(str(error))
        else:
            flash("Endpoint saved.", "success")
            return redirect(url_for("referrals.admin_webhook", endpoint_id=endpoint_id))
    page = service.recent_deliveries(
        endpoint_id,
        request.args.get("page", 1, type=int),
        current_app.config["REFERRALS_PAGE_SIZE"],
    )
    return render_template(
        "referrals/admin_webhook.html",
        endpoint=endpoint,
        form=form,
        action=ActionForm(),
        page=page,
        attempts=service.attempts_of([row.id for row in page.items]),
        types=service.event_types([row.event_id for row in page.items]),
    ), 400 if request.method == "POST" else 200


@bp.route("/admin/webhooks/<referrals_id:endpoint_id>/rotate", methods=["POST"])
@admin_required
def admin_webhook_rotate(endpoint_id: int):
    """A new secret; the old one keeps signing for the grace period."""
    if _acted(lambda: service.rotate_secret(endpoint_id)):
        hours = current_app.config["REFERRALS_WEBHOOK_ROTATION_HOURS"]
        flash(f"New secret made; the old one also signs for {hours} hours.", "success")
    return redirect(url_for("referrals.admin_webhook", endpoint_id=endpoint_id))


@bp.route("/admin/webhooks/<referrals_id:endpoint_id>/delete", methods=["POST"])
@admin_required
def admin_webhook_delete(endpoint_id: int):
    """Remove an endpoint with its deliveries."""
    if _acted(lambda: service.delete_endpoint(endpoint_id)):
        flash("Endpoint deleted.", "success")
        return redirect(url_for("referrals.admin_webhooks"))
    return redirect(url_for("referrals.admin_webhook", endpoint_id=endpoint_id))


@bp.route(
    "/admin/webhooks/deliveries/<referrals_id:delivery_id>/replay", methods=["POST"]
)
@admin_required
def admin_webhook_replay(delivery_id: int):
    """Send one delivery again, with the same webhook-id."""
    endpoint_id = _acted(lambda: service.replay(delivery_id))
    if endpoint_id is None:
        return redirect(url_for("referrals.admin_webhooks"))
    current_app.extensions[WAKE_UP]()
    flash(f"Delivery #{delivery_id} queued again.", "success")
    return redirect(url_for("referrals.admin_webhook", endpoint_id=endpoint_id))


def _acted(action):
    """Run a button's action if its CSRF token is good; 404 for unknown ids."""
    if not ActionForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return None
    try:
        return action() or True
    except service.EndpointNotFound:
        abort(404)


def _endpoint_or_404(endpoint_id: int):
    try:
        return service.endpoint(endpoint_id)
    except service.EndpointNotFound:
        abort(404)
