"""The API's OpenAPI document: served, valid, and in step with the URL map; and
every error under /api/ is JSON."""

import re

import pytest
import schemathesis

from referral_site.referrals.api.openapi import document


def _api_rules(app, prefix: str = "") -> dict[str, set[str]]:
    """Each /api/ rule as an OpenAPI path (after the prefix), with its methods."""
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(prefix + "/api/"):
            path = rule.rule[len(prefix) :]
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", path)
            methods = set(rule.methods or ()) - {"HEAD", "OPTIONS"}
            found.setdefault(path, set()).update(m.lower() for m in methods)
    return found


def test_the_document_describes_every_api_route_and_nothing_else(app):
    described = {path: set(ops) for path, ops in document()["paths"].items()}
    assert described == _api_rules(app)


def test_the_document_is_served_and_is_openapi_3_1(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    served = response.get_json()
    assert served["openapi"] == "3.1.0" and served["servers"] == [{"url": "/"}]
    schema = schemathesis.openapi.from_dict(served)
    operations = {op.ok().label for op in schema.get_all_operations()}
    assert "POST /api/billing/stripe" in operations


def test_the_documented_paths_follow_the_plugins_prefix(make_app):
    app = make_app(REFERRALS_URL_PREFIX="/ref")
    served = app.test_client().get("/ref/api/openapi.json").get_json()
    assert served["servers"] == [{"url": "/ref"}]
    assert set(served["paths"]) == set(_api_rules(app, "/ref"))
    assert app.test_client().get("/ref/api/nothing").is_json


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/nothing-here"),
        ("POST", "/api/conversions/x/unknown"),
        ("GET", "/api/"),
    ],
)
def test_unmatched_api_paths_answer_json_404(client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 404
    assert response.is_json and response.get_json()["error"]


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("GET", "/api/conversions", "OPTIONS, POST"),
        ("DELETE", "/api/billing/stripe", "OPTIONS, POST"),
        ("PUT", "/api/conversions/ch_1/refund", "OPTIONS, POST"),
        ("POST", "/api/openapi.json", "GET, HEAD, OPTIONS"),
    ],
)
def test_wrong_methods_on_api_paths_answer_json_405_with_allow(
    client, method, path, allow
):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert response.is_json and response.get_json()["error"]
    assert response.headers["Allow"] == allow


def test_pages_outside_the_api_keep_the_hosts_error_pages(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and not response.is_json
