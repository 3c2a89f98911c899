"""The JSON API for billing systems: record and refund conversions.

Authenticated with ``Authorization: Bearer <REFERRALS_API_KEY>`` (compared in constant
time); off while no key is configured. Exempt from CSRF, which protects cookie
sessions: this API never reads the session cookie.
"""

import hmac
from datetime import datetime

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from referral_site.referrals.input_checks import (
    CONTROL_CHARACTERS_MESSAGE,
    control_characters_anywhere,
    has_control_characters,
)
from referral_site.referrals.limits import (
    api_auth_failures,
    rate_limited,
    seconds_until_reset,
)
from referral_site.referrals.rewards import conversions
from referral_site.referrals.users import user_id_error

api_bp = Blueprint("referrals_api", __name__)

_FIELDS = {"email", "user_id", "kind", "amount", "currency", "external_id"}


def _error(status: int, message: str, errors: dict | None = None):
    body = {"error": message}
    if errors:
        body["errors"] = errors
    return jsonify(body), status


@api_bp.before_request
def authenticate():
    """Refuse requests without the configured bearer key."""
    key = current_app.config["REFERRALS_API_KEY"]
    if not key:
        return _error(404, "The conversions API is off (no REFERRALS_API_KEY set).")
    with api_auth_failures():  # 429 once failures from this client pass the limit
        pass
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), key.encode()
    ):
        response, status = _error(401, "Missing or wrong API key.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="referrals"'
        return response, status
    return None


@api_bp.errorhandler(HTTPException)
def json_error(error: HTTPException):
    """Answer API errors in JSON, not with the site's HTML pages."""
    return _error(error.code or 500, error.description or error.name)


@api_bp.errorhandler(429)
def too_many_requests(error: HTTPException):
    """A 429 in JSON with the wait, in the body and in ``Retry-After``.

    Registered by code: the host app's own 429 page (registered by code too) would
    otherwise win over the class handler above.
    """
    wait = seconds_until_reset() or 60
    response = jsonify(
        error=f"Too many requests: retry in {wait} seconds.", retry_after=wait
    )
    response.headers["Retry-After"] = str(wait)
    return response, 429


@api_bp.post("/api/conversions")
@rate_limited("API")
def post_conversion():
    """Record a conversion: 201 when new, 200 for a replay of the same external_id."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        return _error(400, "The body must be a JSON object.")
    if unfit := _control_character_errors(body):
        return _error(400, "Invalid conversion.", unfit)
    errors = conversions.validate(
        kind=body.get("kind"),
        amount=body.get("amount"),
        currency=body.get("currency"),
        external_id=body.get("external_id"),
    ) | _shape_errors(body)
    occurred_at = _occurred_at(body.get("occurred_at"), errors)
    if errors:
        return _error(400, "Invalid conversion.", errors)
    try:
        user_id = conversions.find_user_id(
            email=body.get("email"), user_id=body.get("user_id")
        )
        result = conversions.record_conversion(
            user_id,
            kind=body["kind"],
            amount=body["amount"],
            currency=body["currency"],
            external_id=body["external_id"],
            occurred_at=occurred_at,
        )
    except conversions.InvalidConversion as error:
        return _error(400, "Invalid conversion.", error.errors)
    except conversions.UnknownUser as error:
        return _error(404, str(error))
    except conversions.ConversionConflict as error:
        return _error(409, str(error))
    return jsonify(_as_json(result)), 201 if result.created else 200


# path: billing ids may contain slashes ("inv/2026/17").
@api_bp.post("/api/conversions/<path:external_id>/refund")
@rate_limited("API")
def refund(external_id: str):
    """Mark a conversion refunded (repeating it changes nothing)."""
    if has_control_characters(external_id):
        return _error(
            400, "Invalid external_id.", {"external_id": CONTROL_CHARACTERS_MESSAGE}
        )
    try:
        result = conversions.refund_conversion(external_id)
    except conversions.UnknownConversion as error:
        return _error(404, str(error))
    return jsonify(_as_json(result)), 200


def _control_character_errors(body: dict) -> dict[str, str]:
    """The fields holding control characters (NUL...), refused before any query."""
    return {
        (key if not has_control_characters(key) else "body"): CONTROL_CHARACTERS_MESSAGE
        for key, value in body.items()
        if control_characters_anywhere(key) or control_characters_anywhere(value)
    }


def _shape_errors(body: dict) -> dict[str, str]:
    errors = {}
    has_email, has_id = "email" in body, "user_id" in body
    if has_email == has_id:
        errors["user"] = "Give exactly one of email or user_id."
    elif has_id and (problem := user_id_error(body["user_id"])):
        errors["user_id"] = problem
    elif has_email and (not isinstance(body["email"], str) or "@" not in body["email"]):
        errors["email"] = "An email address."
    for name in sorted(_FIELDS - {"email", "user_id"} - set(body)):
        errors[name] = "Required."
    return errors


def _occurred_at(raw: object, errors: dict) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        errors["occurred_at"] = "An ISO 8601 time with a zone: 2026-01-31T12:00:00Z."
        return None
    return value


def _as_json(result: conversions.ConversionResult) -> dict:
    return {
        "id": result.id,
        "external_id": result.external_id,
        "user_id": result.user_id,
        "kind": result.kind,
        "amount": result.amount_minor,
        "currency": result.currency,
        "occurred_at": result.occurred_at.isoformat(),
        "refunded": result.refunded_at is not None,
        "referred": result.referred,
        "rewards": [
            {
                "id": reward.id,
                "user_id": reward.user_id,
                "rule": reward.rule,
                "kind": reward.kind,
                "amount": reward.amount_minor,
                "currency": reward.currency,
                "status": reward.status.value,
            }
            for reward in result.rewards
        ],
    }
