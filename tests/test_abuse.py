"""Abuse limits: rate limits with a 429 that says when to retry; bots are not clicks.

The tests run on both hosts (tests/hosts.py), the site and the bookshop (whose
own signup view takes the plugin's limit), but those of the site's own settings:
its default signup limit, its login form's limit, its Redis storage.
"""

import re
import socket
import uuid

import pytest
import sqlalchemy as sa

from referral_site.referrals.storage.models import Visit
from tests.conftest import PASSWORD, signup

VISITS = sa.select(sa.func.count(Visit.id))
#: Colleagues behind one address.
OFFICE = "198.51.100.20"


def assert_retry_later(response, host=None):
    """A 429; the site's error page says when to retry (a host's 429 page is its
    own: the bookshop keeps Flask-Limiter's)."""
    assert response.status_code == 429
    if host is not None and host.kind != "site":
        return
    seconds = int(response.headers["Retry-After"])
    assert 0 < seconds <= 3600
    text = response.get_data(as_text=True)
    assert re.search(r"Try again in \d+ second", text)


def test_signups_are_limited_per_ip_with_a_retry_time(make_host):
    host = make_host(REFERRALS_RATELIMIT_SIGNUP="2 per hour")
    for n in range(2):
        assert host.join(host.client(OFFICE), f"p{n}", "").status_code == 302
    client = host.client(OFFICE)
    assert_retry_later(host.join(client, "p2", ""), host)
    assert client.get(host.landing).status_code == 200  # only posting is limited


def test_default_signup_limit_lets_an_office_through(app):
    # 20 colleagues behind one address sign up in the same hour.
    for n in range(20):
        response = signup(app.test_client(), email=f"c{n}@example.com", code="")
        assert response.status_code == 302
    assert (
        signup(app.test_client(), email="c20@example.com", code="").status_code == 429
    )


def test_failed_and_successful_logins_are_limited_per_ip(make_app, make_user):
    app = make_app(REFERRALS_RATELIMIT_LOGIN="3 per minute")
    make_user()
    client = app.test_client()
    for _ in range(3):
        client.post("/login", data={"email": "ann@example.com", "password": "wrong"})
    response = client.post(
        "/login", data={"email": "ann@example.com", "password": PASSWORD}
    )
    assert_retry_later(response)


@pytest.mark.parametrize(
    "path, form",
    [
        (
            "/referrals/payout-details",
            {"payout-method": "paypal", "payout-paypal_email": "ann@paypal.example"},
        ),
        ("/referrals/delete", {}),
    ],
)
def test_password_guesses_from_a_signed_in_session_are_limited(
    make_app, make_user, path, form
):
    app = make_app(REFERRALS_RATELIMIT_LOGIN="3 per minute")
    make_user()
    client = app.test_client()
    client.post("/login", data={"email": "ann@example.com", "password": PASSWORD})
    password = "payout-password" if path.endswith("details") else "password"
    for _ in range(3):
        wrong = client.post(path, data=form | {password: "wrong"})
        assert wrong.status_code == 302
    assert_retry_later(client.post(path, data=form | {password: PASSWORD}))


def test_other_addresses_are_not_held_back_by_a_limited_one(make_host):
    host = make_host(REFERRALS_RATELIMIT_SIGNUP="1 per hour")
    first, second = host.client("192.0.2.1"), host.client("192.0.2.2")
    assert host.join(first, "a", "").status_code == 302
    assert host.join(host.client("192.0.2.1"), "b", "").status_code == 429
    assert host.join(second, "c", "").status_code == 302


def test_guessing_codes_is_limited_but_real_links_are_not(make_host):
    host = make_host(REFERRALS_RATELIMIT_CODE_MISSES="3 per hour")
    _, code = host.make_user()
    client = host.client()
    for _ in range(10):  # a popular link clicked often from one address
        assert client.get(host.url(f"/r/{code}")).status_code == 302
    for guess in ["AAAA1111", "AAAA1112", "AAAA1113"]:
        assert client.get(host.url(f"/r/{guess}")).status_code == 302
    assert_retry_later(client.get(host.url("/r/AAAA1114")), host)
    assert host.scalar(VISITS) == 10


def test_conversion_api_limit_is_a_setting(app):
    assert app.config["REFERRALS_RATELIMIT_API"] == "120 per minute"


def _redis_running() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _redis_running(), reason="no Redis on 127.0.0.1:6379")
def test_limits_can_be_shared_through_redis(make_app):
    settings = {
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        "REFERRALS_RATELIMIT_SIGNUP": "1 per hour",
    }
    first_worker = make_app(**settings)
    assert (
        signup(first_worker.test_client(), email="a@example.com", code="").status_code
        == 302
    )
    second_worker = make_app(**settings)  # another process would see the same count
    response = signup(second_worker.test_client(), email="b@example.com", code="")
    assert_retry_later(response)


BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Twitterbot/1.0",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "TelegramBot (like TwitterBot)",
    "WhatsApp/2.23.20.0 A",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient "
    "+http://www.linkedin.com)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) SkypeUriPreview Preview/0.5",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 "
    "Safari/537.36",
    "curl/8.5.0",
    "python-requests/2.31.0",
]

PEOPLE = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 Instagram 330.0.0.0",
    "Mozilla/5.0 (Linux; Android 13; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) [LinkedInApp]/9.29",
]


def test_bots_and_unfurlers_are_not_clicks_and_get_no_cookie(host):
    _, code = host.make_user()
    for agent in BOTS:
        client = host.client()
        response = client.get(host.url(f"/r/{code}"), headers={"User-Agent": agent})
        assert response.status_code == 302, agent  # still sent on, not counted
        assert client.get_cookie("ref") is None, agent
        client.get(f"/?ref={code}", headers={"User-Agent": agent})
        assert client.get_cookie("ref") is None, agent
    assert host.scalar(VISITS) == 0


def test_browsers_of_people_are_counted(host):
    _, code = host.make_user()
    for agent in PEOPLE:
        client = host.client()
        client.get(host.url(f"/r/{code}"), headers={"User-Agent": agent})
        assert client.get_cookie("ref") is not None, agent
    assert host.scalar(VISITS) == len(PEOPLE)


PREFETCHES = [
    {"Sec-Purpose": "prefetch"},
    {"Sec-Purpose": "prefetch;prerender"},
    {"Purpose": "prefetch"},
    {"X-Moz": "prefetch"},
    {"X-Purpose": "preview"},
]


def test_prefetches_are_not_clicks(host):
    _, code = host.make_user()
    for headers in PREFETCHES:
        client = host.client()
        client.get(host.url(f"/r/{code}"), headers=headers)
        assert client.get_cookie("ref") is None, headers
    assert host.scalar(VISITS) == 0
