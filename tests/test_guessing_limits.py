"""Guessing is limited whichever way it comes: codes by /r/<code> or ?ref=, API keys
(issue 16, items 9 and 10), on the site and on the bookshop."""

import pytest
import sqlalchemy as sa

from referral_site.referrals.capture.visit_buffer import flush_all
from referral_site.referrals.storage.models import Visit
from tests.conftest import scalar
from tests.hosts import BROWSER, Host
from tests.reward_helpers import API_KEY

GUESSER = {"REMOTE_ADDR": "198.51.100.7"}
NEIGHBOUR = {"REMOTE_ADDR": "198.51.100.8"}
#: Ten misses a minute (the default), from links and ?ref= together.
LIMIT = 10


def _client(host: Host, environ: dict):
    client = host.app.test_client()
    client.environ_base.update(environ)
    return client


def _guess(client, how: str, code: str):
    prefix = client.application.config["REFERRALS_URL_PREFIX"]
    path = f"{prefix}/r/{code}" if how == "link" else f"/?ref={code}"
    return client.get(path, headers=BROWSER)


@pytest.mark.parametrize("first, then", [("link", "query"), ("query", "link")])
def test_unknown_codes_count_against_one_limit_either_way(host: Host, first, then):
    guesser = _client(host, GUESSER)
    statuses = [_guess(guesser, first, f"NOPE{n:04d}").status_code for n in range(6)]
    statuses += [
        _guess(guesser, then, f"NOPE{n:04d}").status_code for n in range(6, 12)
    ]
    assert 429 not in statuses[:LIMIT]
    assert statuses[LIMIT:] == [429, 429]
    assert _guess(guesser, first, "NOPE9999").status_code == 429
    # Someone else at another address is not limited.
    assert _guess(_client(host, NEIGHBOUR), then, "NOPE0000").status_code != 429


@pytest.mark.parametrize("how", ["link", "query"])
def test_a_limited_guesser_cannot_tell_a_real_code(host: Host, how):
    host.join(host.app.test_client(), "ann")
    real = host.code("ann")
    guesser = _client(host, GUESSER)
    for n in range(LIMIT + 1):
        _guess(guesser, "link" if n % 2 else "query", f"NOPE{n:04d}")
    unknown = _guess(guesser, how, "NOPE7777")
    found = _guess(guesser, how, real)
    assert (found.status_code, unknown.status_code) == (429, 429)
    assert found.headers.get_all("Set-Cookie") == []
    assert found.get_data() == unknown.get_data()
    assert host.scalar(sa.select(sa.func.count(Visit.id))) == 0
    # The real code still works for everyone else.
    visitor = _client(host, NEIGHBOUR)
    assert _guess(visitor, how, real).status_code in (200, 302)
    assert visitor.get_cookie("ref") is not None


def _api(client, key: str):
    return client.post(
        client.application.config["REFERRALS_URL_PREFIX"] + "/api/conversions",
        json={"email": "nobody@example.com"},
        headers={"Authorization": f"Bearer {key}"},
    )


def test_wrong_api_keys_are_limited(host: Host):
    guesser = _client(host, GUESSER)
    statuses = [_api(guesser, f"wrong-{n}").status_code for n in range(LIMIT + 2)]
    assert statuses == [401] * LIMIT + [429, 429]
    refused = _api(guesser, API_KEY)  # the right key, from a limited client
    assert refused.status_code == 429
    assert refused.get_json()["retry_after"] > 0
    assert int(refused.headers["Retry-After"]) > 0
    # The billing system, elsewhere, is unaffected; right keys never count.
    billing = _client(host, NEIGHBOUR)
    assert {_api(billing, API_KEY).status_code for _ in range(LIMIT + 2)} == {400}


def test_the_api_auth_limit_is_a_setting(make_app):
    app = make_app(
        REFERRALS_API_KEY="k" * 32, REFERRALS_RATELIMIT_API_AUTH_FAILURES="2/hour"
    )
    client = app.test_client()
    statuses = [_api(client, "nope").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_the_fast_path_answers_a_limited_guesser_as_the_app_does(make_app, make_user):
    app = make_app(REFERRALS_FAST_LINKS=True, REFERRALS_VISIT_BUFFER_SECONDS=60)
    _, code = make_user()
    app.test_client().get(f"/r/{code}", headers=BROWSER)  # the code is now cached
    guesser = app.test_client()
    guesser.environ_base.update(GUESSER)
    for n in range(LIMIT + 1):
        guesser.get(f"/r/NOPE{n:04d}", headers=BROWSER)
    found = guesser.get(f"/r/{code}", headers=BROWSER)
    assert found.status_code == 429 and found.headers.get_all("Set-Cookie") == []
    flush_all()
    assert scalar(app, sa.select(sa.func.count(Visit.id))) == 1  # the first click
