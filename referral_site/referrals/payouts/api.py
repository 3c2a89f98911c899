"""Store credit in the JSON API: a user's credit, and recording its use by the host.

On the conversions API's blueprint, so the same bearer key, rate limit and JSON
errors apply.
"""

from flask import jsonify, request

from referral_site.referrals.api.views import api_bp
from referral_site.referrals.input_checks import (
    CONTROL_CHARACTERS_MESSAGE,
    control_characters_anywhere,
)
from referral_site.referrals.limits import rate_limited
from referral_site.referrals.payouts import credit
from referral_site.referrals.rewards.conversions import UnknownUser, find_user_id


def _error(status: int, message: str, errors: dict | None = None):
    body = {"error": message} | ({"errors": errors} if errors else {})
    return jsonify(body), status


def _credit_json(user_id) -> dict:
    return {
        "user_id": user_id,
        "credit": [
            {"currency": currency, "available": amount}
            for currency, amount in credit.store_credit(user_id).items()
        ],
    }


@api_bp.get("/api/users/<referrals_user:user_id>/credit")
@rate_limited("API")
def get_store_credit(user_id):
    """A user's available store credit per currency, in minor units."""
    try:
        found = find_user_id(user_id=user_id)
    except UnknownUser as error:
        return _error(404, str(error))
    return jsonify(_credit_json(found))


@api_bp.post("/api/users/<referrals_user:user_id>/credit/uses")
@rate_limited("API")
def use_store_credit(user_id):
    """Record a use of store credit: 201 new, 200 a replay of the same reference."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        return _error(400, "The body must be a JSON object.")
    if control_characters_anywhere(body):
        return _error(400, "Invalid use.", {"body": CONTROL_CHARACTERS_MESSAGE})
    try:
        found = find_user_id(user_id=user_id)
        use = credit.use_store_credit(
            found, body.get("amount"), body.get("currency"), body.get("reference")
        )
    except UnknownUser as error:
        return _error(404, str(error))
    except credit.CreditConflict as error:
        return _error(409, str(error))
    except credit.InsufficientCredit as error:
        return _error(422, str(error))
    except credit.CreditError as error:
        return _error(400, str(error))
    answer = {
        "id": use.id,
        "reference": use.reference,
        "amount": use.amount_minor,
        "currency": use.currency,
    } | _credit_json(found)
    return jsonify(answer), 201 if use.created else 200
