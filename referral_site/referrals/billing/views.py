"""The Stripe webhook endpoint: POST /api/billing/stripe.

Authenticated by Stripe's signature, not by the session: exempt from CSRF. Errors
are JSON with a message Stripe's dashboard shows.
"""

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from referral_site.referrals.billing.service import receive
from referral_site.referrals.billing.signature import WebhookRefused
from referral_site.referrals.storage.db import DATABASE_OUTAGES

billing_bp = Blueprint("referrals_billing", __name__)


@billing_bp.post("/api/billing/stripe")
def stripe_webhook():
    """Take one Stripe event: 200 once stored (new, replayed or ignored)."""
    limit = current_app.config["REFERRALS_STRIPE_MAX_BYTES"]
    if (request.content_length or 0) > limit:
        return _error(413, f"The body is larger than {limit} bytes.")
    payload = request.stream.read(limit + 1)
    if len(payload) > limit:
        return _error(413, f"The body is larger than {limit} bytes.")
    try:
        received = receive(payload, request.headers.get("Stripe-Signature"))
    except WebhookRefused as refused:
        return _error(refused.status, str(refused))
    except DATABASE_OUTAGES:
        response, status = _error(503, "The database is busy; retry later.")
        response.headers["Retry-After"] = "30"
        return response, status
    return jsonify(
        id=received.stripe_id,
        duplicate=received.duplicate,
        outcome=received.outcome.value,
        reason=received.reason,
    )


@billing_bp.errorhandler(HTTPException)
def json_error(error: HTTPException):
    """Answer the endpoint's HTTP errors in JSON, as the rest of /api/."""
    return _error(error.code or 500, error.description or error.name)


def _error(status: int, message: str):
    return jsonify(error=message), status
