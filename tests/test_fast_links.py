"""The referral links' fast path (REFERRALS_FAST_LINKS): same answer, fewer hooks."""

import pytest
import sqlalchemy as sa

from referral_site.referrals.fraud_models import UserSighting
from referral_site.referrals.models import Visit
from tests.conftest import login, query, scalar

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}


def _cookie_attributes(response) -> dict[str, list[str]]:
    """Each Set-Cookie by name, with its attributes but without value or expiry."""
    cookies = {}
    for header in response.headers.getlist("Set-Cookie"):
        name_value, *attributes = header.split("; ")
        cookies[name_value.split("=")[0]] = sorted(
            a for a in attributes if not a.startswith("Expires=")
        )
    return cookies


def _answer(app, path: str, **extra):
    client = app.test_client()
    return client, client.get(path, headers=BROWSER, **extra)


def test_fast_and_full_paths_answer_a_click_alike(make_app, make_user):
    fast = make_app(REFERRALS_FAST_LINKS=True)
    full = make_app(REFERRALS_FAST_LINKS=False)
    referrer_id, code = make_user()
    fast_client, fast_answer = _answer(fast, f"/r/{code}")
    full_client, full_answer = _answer(full, f"/r/{code}")
    assert fast_answer.status_code == full_answer.status_code == 302
    assert fast_answer.location == full_answer.location == "/signup"
    assert _cookie_attributes(fast_answer) == _cookie_attributes(full_answer)
    assert set(_cookie_attributes(fast_answer)) == {"ref", "ref_vid"}
    for name in ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"):
        assert fast_answer.headers[name] == full_answer.headers[name]
    visits = query(fast, sa.select(Visit.referrer_id, Visit.code, Visit.landing_path))
    assert visits == [(referrer_id, code, f"/r/{code}")] * 2
    # Each path reads the other's cookies: the signup form shows the code.
    for client in (fast_client, full_client):
        page = client.get("/signup", headers=BROWSER).get_data(as_text=True)
        assert f'value="{code}"' in page


def test_fast_path_keeps_the_first_touch_and_the_visitor(make_app, make_user):
    app = make_app(REFERRALS_FAST_LINKS=True)
    _, first = make_user("ann@example.com")
    _, second = make_user("cat@example.com")
    client, _ = _answer(app, f"/r/{first}")
    visitor = client.get_cookie("ref_vid").value
    again = client.get(f"/r/{second}", headers=BROWSER)
    assert "ref=" not in " ".join(again.headers.getlist("Set-Cookie"))
    assert client.get_cookie("ref_vid").value == visitor
    assert len(set(query(app, sa.select(Visit.visitor_id)))) == 1


def test_host_hooks_run_on_clicks_unless_fast_links_are_on(make_app, make_user):
    """The documented trade-off: the fast path skips the app's request hooks."""
    _, code = make_user()
    for fast_links, hook_ran in ((False, True), (True, False)):
        app = make_app(REFERRALS_FAST_LINKS=fast_links)

        @app.after_request
        def mark(response):
            response.headers["X-Host-Hook"] = "ran"
            return response

        _, answer = _answer(app, f"/r/{code}")
        assert answer.status_code == 302
        assert ("X-Host-Hook" in answer.headers) is hook_ran
        # Every other page still runs them.
        assert app.test_client().get("/").headers["X-Host-Hook"] == "ran"


def test_signed_in_visitors_take_the_full_path(make_app, make_user):
    app = make_app(REFERRALS_FAST_LINKS=True)
    make_user("ann@example.com")
    _, code = make_user("cat@example.com")
    client = app.test_client()
    login(client, "ann@example.com")
    sightings_before = scalar(app, sa.select(sa.func.count(UserSighting.id)))
    client.delete_cookie("ref_vid")  # a new device: the full path notes it
    assert client.get(f"/r/{code}", headers=BROWSER).status_code == 302
    assert scalar(app, sa.select(sa.func.count(Visit.id))) == 1
    assert scalar(app, sa.select(sa.func.count(UserSighting.id))) > sightings_before


@pytest.mark.parametrize("fast_links", [True, False])
def test_unknown_codes_are_limited_valid_ones_are_not(make_app, make_user, fast_links):
    app = make_app(
        REFERRALS_FAST_LINKS=fast_links, REFERRALS_RATELIMIT_CODE_MISSES="2/minute"
    )
    _, code = make_user()
    client = app.test_client()
    valid = [client.get(f"/r/{code}", headers=BROWSER).status_code for _ in range(4)]
    assert valid == [302] * 4
    unknown = [client.get("/r/NOSUCHCODE", headers=BROWSER) for _ in range(3)]
    assert [r.status_code for r in unknown] == [302, 302, 429]
    assert scalar(app, sa.select(sa.func.count(Visit.id))) == 4
