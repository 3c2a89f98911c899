"""The API described: the OpenAPI 3.1 document at /api/openapi.json, and JSON
answers for requests under /api/ that match no route or method.

The document is kept beside the code (openapi.json) and checked against the
app's URL map by tests/test_openapi.py.
"""

import json
from functools import cache
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

DOCUMENT = Path(__file__).with_name("openapi.json")

docs_bp = Blueprint("referrals_api_docs", __name__)


@cache
def document() -> dict:
    """The OpenAPI document as shipped (paths relative to the plugin's prefix)."""
    return json.loads(DOCUMENT.read_text())


@docs_bp.get("/api/openapi.json")
def openapi():
    """The OpenAPI 3.1 document of every /api/ route, for clients and testers."""
    served = dict(document())
    served["servers"] = [{"url": current_app.config["REFERRALS_URL_PREFIX"] or "/"}]
    return jsonify(served)


@docs_bp.before_app_request
def json_routing_errors():
    """A path under /api/ that matches no route (404) or not this method (405,
    with Allow) is answered in JSON, not with the host's HTML error pages.

    Flask raises routing errors after the request hooks, so this hook sees them
    first and leaves the host's own handlers for its own pages.
    """
    error = request.routing_exception
    prefix = current_app.config["REFERRALS_URL_PREFIX"] + "/api/"
    if not isinstance(error, NotFound | MethodNotAllowed):
        return None
    if not request.path.startswith(prefix):
        return None
    response = jsonify(error=error.description or error.name)
    response.status_code = error.code
    if isinstance(error, MethodNotAllowed):
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods or ()))
    return response
