"""The referral links' fast path (REFERRALS_FAST_LINKS): the same click, fewer hooks.

The fast path answers anonymous clicks on codes already in the code cache, with
visits buffered; each app here clicks once first so that its cache knows the code.
"""

import pytest
import sqlalchemy as sa

from referral_site.referrals.account import service as account
from referral_site.referrals.capture.visit_buffer import flush_all
from referral_site.referrals.fraud.models import UserSighting
from referral_site.referrals.storage.models import Referral, Visit
from tests.conftest import login, query, scalar, signup

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}
VISITS = sa.select(sa.func.count(Visit.id))


def _app(make_app, fast_links: bool = True, **settings):
    return make_app(
        REFERRALS_FAST_LINKS=fast_links, REFERRALS_VISIT_BUFFER_SECONDS=60, **settings
    )


def _click(app, code: str, client=None, **headers):
    client = client or app.test_client()
    return client, client.get(f"/r/{code}", headers=BROWSER | headers)


def _warm(app, code: str) -> None:
    """A first click, which puts the code in this app's cache."""
    _click(app, code)


def _cookie_attributes(response) -> dict[str, list[str]]:
    """Each Set-Cookie by name, with its attributes but without value or expiry."""
    cookies = {}
    for header in response.headers.getlist("Set-Cookie"):
        name_value, *attributes = header.split("; ")
        cookies[name_value.split("=")[0]] = sorted(
            a for a in attributes if not a.startswith("Expires=")
        )
    return cookies


def test_fast_and_full_paths_answer_a_click_alike(make_app, make_user):
    fast, full = _app(make_app, True), _app(make_app, False)
    referrer_id, code = make_user()
    _warm(fast, code)
    _warm(full, code)
    fast_client, fast_answer = _click(fast, code)
    full_client, full_answer = _click(full, code)
    assert fast_answer.status_code == full_answer.status_code == 302
    assert fast_answer.location == full_answer.location == "/signup"
    assert _cookie_attributes(fast_answer) == _cookie_attributes(full_answer)
    assert set(_cookie_attributes(fast_answer)) == {"ref", "ref_vid"}
    for name in ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"):
        assert fast_answer.headers[name] == full_answer.headers[name]
    flush_all()
    rows = query(
        fast,
        sa.select(Visit.referrer_id, Visit.code, Visit.landing_path, Visit.ip_hash),
    )
    assert len(rows) == 4 and len(set(rows)) == 1
    assert rows[0][:3] == (referrer_id, code, f"/r/{code}")
    visitors = {visitor for (visitor,) in query(fast, sa.select(Visit.visitor_id))}
    assert fast_client.get_cookie("ref_vid").value.split(".")[0] in visitors
    # The fast path's cookies attribute a signup, linked to its visit.
    assert signup(fast_client).status_code == 302
    referral = scalar(fast, sa.select(Referral))
    assert referral.referrer_id == referrer_id and referral.visit_id is not None


def test_fast_path_keeps_the_first_touch_and_the_visitor(make_app, make_user):
    app = _app(make_app)
    _, first = make_user("ann@example.com")
    _, second = make_user("cat@example.com")
    _warm(app, first)
    _warm(app, second)
    client, _ = _click(app, first)
    visitor = client.get_cookie("ref_vid").value
    _, again = _click(app, second, client)
    assert _cookie_attributes(again) == {}  # first touch: nothing replaced
    assert client.get_cookie("ref_vid").value == visitor
    flush_all()
    assert (
        len(
            query(
                app,
                sa.select(Visit.visitor_id).where(
                    Visit.visitor_id == (visitor.split(".")[0])
                ),
            )
        )
        == 2
    )


def test_last_touch_takes_the_latest_code_on_the_fast_path(make_app, make_user):
    app = _app(make_app, REFERRALS_ATTRIBUTION_MODEL="last_touch")
    _, first = make_user("ann@example.com")
    _, second = make_user("cat@example.com")
    _warm(app, first)
    _warm(app, second)
    client, _ = _click(app, first)
    _click(app, second, client)
    assert client.get_cookie("ref").value.startswith(f"{second}|link|")


def test_host_hooks_run_on_clicks_unless_fast_links_are_on(make_app, make_user):
    """The documented trade-off: the fast path skips the app's request hooks."""
    _, code = make_user()
    for fast_links, hook_ran in ((False, True), (True, False)):
        app = _app(make_app, fast_links)

        @app.after_request
        def mark(response):
            response.headers["X-Host-Hook"] = "ran"
            return response

        _warm(app, code)
        _, answer = _click(app, code)
        assert answer.status_code == 302
        assert ("X-Host-Hook" in answer.headers) is hook_ran
        # Every other page still runs them.
        assert app.test_client().get("/").headers["X-Host-Hook"] == "ran"


def test_signed_in_visitors_take_the_full_path(make_app, make_user):
    app = _app(make_app)
    make_user("ann@example.com")
    _, code = make_user("cat@example.com")
    _warm(app, code)
    client = app.test_client()
    login(client, "ann@example.com")
    sightings_before = scalar(app, sa.select(sa.func.count(UserSighting.id)))
    client.delete_cookie("ref_vid")  # a new device: the full path notes it
    assert _click(app, code, client)[1].status_code == 302
    assert scalar(app, sa.select(sa.func.count(UserSighting.id))) > sightings_before


def test_bots_and_prefetches_are_not_clicks_on_the_fast_path(make_app, make_user):
    app = _app(make_app)
    _, code = make_user()
    _warm(app, code)
    for headers in (
        {"User-Agent": "Slackbot-LinkExpanding 1.0"},
        {"Purpose": "prefetch"},
    ):
        _, answer = _click(app, code, **headers)
        assert answer.status_code == 302 and _cookie_attributes(answer) == {}
    flush_all()
    assert scalar(app, VISITS) == 1  # the warm-up click only


def test_a_deleted_accounts_link_stops_counting_at_once(make_app, make_user):
    app = _app(make_app)
    ann_id, code = make_user()
    _warm(app, code)
    with app.app_context():
        account.delete_account(ann_id, password="correct horse battery")
    _click(app, code)
    flush_all()
    assert scalar(app, VISITS) == 1  # the click before the deletion only


@pytest.mark.parametrize("fast_links", [True, False])
def test_unknown_codes_are_limited_valid_ones_are_not(make_app, make_user, fast_links):
    app = _app(make_app, fast_links, REFERRALS_RATELIMIT_CODE_MISSES="2/minute")
    _, code = make_user()
    client = app.test_client()
    valid = [_click(app, code, client)[1].status_code for _ in range(4)]
    assert valid == [302] * 4
    unknown = [client.get("/r/NOSUCHCODE", headers=BROWSER) for _ in range(3)]
    assert [r.status_code for r in unknown] == [302, 302, 429]
    flush_all()
    assert scalar(app, VISITS) == 4


def test_fast_path_honours_the_url_prefix_and_mount_point(make_app, make_user):
    app = _app(make_app, REFERRALS_URL_PREFIX="/invite")
    _, code = make_user()

    @app.after_request
    def mark(response):
        response.headers["X-Host-Hook"] = "ran"
        return response

    for _ in range(2):  # the first click fills the code cache
        answer = app.test_client().get(
            f"/invite/r/{code}", headers=BROWSER, base_url="http://localhost/shop"
        )
    assert "X-Host-Hook" not in answer.headers  # answered by the fast path
    assert answer.location == "/shop/invite/signup"
    flush_all()
    assert scalar(app, VISITS) == 2
