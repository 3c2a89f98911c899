"""Security headers, CSRF on every state-changing route, admin-only routes, proxies."""

import pytest
import sqlalchemy as sa

from referral_site import create_app
from referral_site.referrals.capture.visits import hash_ip
from referral_site.referrals.storage.models import Visit
from tests import proof
from tests.conftest import PASSWORD, login, scalar
from tests.routes import admin_routes, state_changing

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def _assert_security_headers(response):
    policy = response.headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, name


@pytest.fixture
def crashing_app(make_app):
    app = make_app()
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/boom")
    def boom():
        raise RuntimeError("kaboom")

    return app


def test_security_headers_on_pages_and_error_pages(crashing_app, make_user):
    make_user()
    client = crashing_app.test_client()
    responses = [
        client.get("/"),
        client.get("/signup"),
        client.get("/no-such-page"),  # 404
        client.get("/logout"),  # 405
        client.post("/signup", data={"name": ""}),  # 400 form errors
        client.get("/boom"),  # 500
    ]
    login(client, "ann@example.com")
    responses.append(client.get("/admin"))  # 403
    assert [r.status_code for r in responses] == [200, 200, 404, 405, 400, 500, 403]
    for response in responses:
        _assert_security_headers(response)
    assert "kaboom" not in responses[5].get_data(as_text=True)


def test_hsts_only_in_production(app, make_app):
    assert "Strict-Transport-Security" not in app.test_client().get("/").headers
    production = make_app(ENV_NAME="production", SECRET_KEY="a-real-secret-" * 3)
    hsts = production.test_client().get("/").headers["Strict-Transport-Security"]
    assert "max-age=" in hsts


def test_no_template_uses_inline_scripts_or_styles():
    """The CSP forbids them; catch them here rather than in a browser console."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parent.parent
    templates = list(root.glob("templates/**/*.html")) + list(
        root.glob("referral_site/**/templates/**/*.html")
    )
    assert templates
    for template in templates:
        if template.parent.name == "emails":
            continue  # emails are read by mail clients: inline styles are all they keep
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert not re.search(r"\son[a-z]+=\"", text), template
        assert ' style="' not in text, template


@pytest.mark.proof
def test_every_state_changing_route_requires_a_csrf_token(make_app, make_user):
    app = make_app(WTF_CSRF_ENABLED=True)
    make_user("boss@example.com", "Boss", admin=True)
    exempt = _csrf_exempt_endpoints(app)
    checked, unprotected = 0, []
    for endpoint, path, method in state_changing(app):
        if endpoint in exempt:
            continue
        client = app.test_client()
        _login_with_token(client)
        response = client.open(path, method=method, data={"anything": "x"})
        checked += 1
        if response.status_code != 400 or "CSRF" not in response.get_data(as_text=True):
            unprotected.append((endpoint, method, response.status_code))
    proof.record("state_changing_routes_checked", checked)
    proof.record("routes_without_csrf", len(unprotected))
    assert unprotected == []
    assert checked >= 3  # signup, login, logout at least


@pytest.mark.proof
def test_csrf_exempt_routes_require_other_authentication(make_app):
    app = make_app(
        WTF_CSRF_ENABLED=True,
        REFERRALS_API_KEY="k" * 32,
        REFERRALS_STRIPE_WEBHOOK_SECRET="whsec_" + "k" * 32,
    )
    open_routes = []
    for endpoint, path, method in state_changing(app):
        if endpoint in _csrf_exempt_endpoints(app):
            response = app.test_client().open(path, method=method, json={})
            if response.status_code not in (401, 403):
                open_routes.append(endpoint)
    proof.record("routes_without_csrf", len(open_routes))
    assert open_routes == []


def _csrf_exempt_endpoints(app) -> set[str]:
    csrf = app.extensions["csrf"]
    exempt = set()
    for endpoint, view in app.view_functions.items():
        location = f"{view.__module__}.{view.__name__}"
        blueprint = endpoint.rsplit(".", 1)[0] if "." in endpoint else None
        exempt_blueprints = {bp.name for bp in csrf._exempt_blueprints}
        if location in csrf._exempt_views or blueprint in exempt_blueprints:
            exempt.add(endpoint)
    return exempt


def _login_with_token(client):
    import re

    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post(
        "/login",
        data={"email": "boss@example.com", "password": PASSWORD, "csrf_token": token},
    )


@pytest.mark.proof
def test_admin_routes_refuse_users_and_send_anonymous_to_login(app, make_user):
    make_user()
    found = list(admin_routes(app))
    assert found  # /admin at least
    user = app.test_client()
    login(user, "ann@example.com")
    anonymous = app.test_client()
    reachable = []
    for endpoint, path, methods in found:
        for method in methods:
            if user.open(path, method=method).status_code != 403:
                reachable.append((endpoint, method, "user"))
            response = anonymous.open(path, method=method)
            if response.status_code != 302 or "/login" not in response.location:
                reachable.append((endpoint, method, "anonymous"))
    proof.record("admin_routes_checked", sum(len(m) for _, _, m in found))
    proof.record("admin_routes_reachable_by_wrong_user", len(reachable))
    assert reachable == []


def test_client_ip_comes_from_the_socket_without_a_trusted_proxy(app, make_user):
    _, code = make_user()
    app.test_client().get(
        f"/r/{code}",
        headers={"X-Forwarded-For": "198.51.100.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    with app.app_context():
        expected = hash_ip("10.0.0.2")
    assert scalar(app, sa.select(Visit.ip_hash)) == expected


def test_client_ip_comes_from_the_trusted_proxy_header(make_app, make_user):
    app = make_app(PROXY_FIX_X_FOR=1)
    _, code = make_user()
    app.test_client().get(
        f"/r/{code}",
        headers={"X-Forwarded-For": "203.0.113.50, 198.51.100.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    with app.app_context():
        expected = hash_ip("198.51.100.7")  # the hop our one proxy saw
    assert scalar(app, sa.select(Visit.ip_hash)) == expected


def test_with_no_trusted_proxy_a_spoofed_forwarded_for_changes_nothing(
    make_app, make_user, monkeypatch
):
    """A host reached directly (PROXY_FIX_X_FOR=0, from the environment): the
    header neither names the visit's address nor escapes a rate limit."""
    monkeypatch.setenv("PROXY_FIX_X_FOR", "0")
    app = make_app(REFERRALS_RATELIMIT_CODE_MISSES="3 per hour")
    _, code = make_user()
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.0.0.2"
    client.get(f"/r/{code}", headers={"X-Forwarded-For": "203.0.113.9"})
    with app.app_context():
        assert scalar(app, sa.select(Visit.ip_hash)) == hash_ip("10.0.0.2")
    statuses = [
        client.get(
            f"/r/NOPE{n:04d}", headers={"X-Forwarded-For": f"203.0.113.{n}"}
        ).status_code
        for n in range(4)
    ]
    assert statuses == [302, 302, 302, 429]


def test_production_cookies_are_secure_httponly_and_lax(
    make_app, make_user, monkeypatch
):
    _, code = make_user()
    url = make_app().config["SQLALCHEMY_DATABASE_URI"]
    monkeypatch.setenv("FLASK_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 64)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "WTF_CSRF_ENABLED": False,
            # Written in the request: no click may land in a later test's database.
            "REFERRALS_VISIT_BUFFER_SECONDS": 0,
        }
    )
    client = app.test_client()
    captured = client.get(f"/r/{code}").headers.getlist("Set-Cookie")
    signed_in = login(client, "ann@example.com", remember="y").headers.getlist(
        "Set-Cookie"
    )
    cookies = {c.split("=", 1)[0]: c for c in captured + signed_in}
    for name in ("ref", "ref_vid", "session", "remember_token"):
        assert "Secure" in cookies[name], name
        assert "HttpOnly" in cookies[name] and "SameSite=Lax" in cookies[name], name
