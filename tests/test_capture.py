"""Capturing referral links: /r/<code>, ?ref=, the signed cookie and its window.

Each test runs on both hosts (tests/hosts.py): the site and the bookshop.
"""

import os
import re
import time
from email.utils import parsedate_to_datetime

import pytest
import sqlalchemy as sa

from referral_site.referrals.storage.models import CaptureSource, Visit
from tests.hosts import Host

VISITS = sa.select(sa.func.count(Visit.id))


def cookie(client, name="ref"):
    return client.get_cookie(name)


def test_following_a_link_records_a_visit_sets_cookie_and_lands_on_signup(
    host: Host,
):
    referrer_id, code = host.make_user()
    client = host.client()
    response = client.get(host.url(f"/r/{code}"))
    assert response.status_code == 302
    assert response.headers["Location"] == host.landing
    set_cookie = [
        h for h in response.headers.getlist("Set-Cookie") if h.startswith("ref=")
    ]
    assert "HttpOnly" in set_cookie[0] and "SameSite=Lax" in set_cookie[0]
    assert "Max-Age=2592000" in set_cookie[0]  # 30 days
    # Expires says the same, for clients that read no Max-Age.
    expires = re.search(r"Expires=([^;]+)", set_cookie[0]).group(1)
    lives = parsedate_to_datetime(expires).timestamp() - time.time()
    assert 2592000 - 2 <= lives <= 2592000 + 1
    visit = host.scalar(sa.select(Visit))
    assert (visit.referrer_id, visit.code, visit.source) == (
        referrer_id,
        code,
        CaptureSource.LINK,
    )
    assert visit.landing_path == host.url(f"/r/{code}")
    assert len(visit.visitor_id) == 32
    page = client.get(host.landing).get_data(as_text=True)
    assert page.count(f'value="{code}"') == 1


def test_codes_match_case_insensitively(host: Host):
    _, code = host.make_user()
    client = host.client()
    client.get(host.url(f"/r/{code.lower()}"))
    assert cookie(client) is not None
    assert host.scalar(VISITS) == 1


def test_ref_query_parameter_captures_on_any_page(host: Host):
    _, code = host.make_user()
    client = host.client()
    response = client.get(f"/?ref={code}")  # the host's own home page
    assert response.status_code == 200
    assert host.scalar(sa.select(Visit.source)) == CaptureSource.QUERY
    assert cookie(client) is not None


@pytest.mark.parametrize(
    "bad",
    [
        "ZZZZZZZZ",
        "ab",
        "A" * 33,
        "abc-def",
        "..%2F..%2Fetc",
        "<script>",
        "ÄÖÜ12345",
        "%00",
    ],
)
def test_unknown_or_malformed_codes_set_nothing_and_still_land(host: Host, bad):
    host.make_user()
    client = host.client()
    response = client.get(host.url(f"/r/{bad}"))
    assert response.status_code == 302
    assert response.headers["Location"] == host.landing
    assert cookie(client) is None
    assert client.get(f"/?ref={bad}").status_code == 200
    assert cookie(client) is None
    assert host.scalar(VISITS) == 0


def test_head_requests_are_not_clicks(host: Host):
    _, code = host.make_user()
    client = host.client()
    assert client.head(host.url(f"/r/{code}")).status_code == 302
    assert host.scalar(VISITS) == 0
    assert cookie(client) is None


def test_following_your_own_link_is_not_a_click(host: Host):
    ann = host.person("ann")
    ann.get(host.url(f"/r/{host.code('ann')}"))
    assert host.scalar(VISITS) == 0


def test_visitor_id_is_kept_across_clicks(host: Host):
    _, code = host.make_user()
    client = host.client()
    client.get(host.url(f"/r/{code}"))
    client.get(host.url(f"/r/{code}"))
    assert host.scalar(sa.select(sa.func.count(sa.distinct(Visit.visitor_id)))) == 1
    assert host.scalar(VISITS) == 2


def test_first_touch_keeps_the_first_code(host: Host):
    _, first = host.make_user("ann")
    _, second = host.make_user("cat")
    client = host.client()
    client.get(host.url(f"/r/{first}"))
    client.get(host.url(f"/r/{second}"))
    assert host.scalar(VISITS) == 2  # both clicks count
    assert f'value="{first}"' in client.get(host.landing).get_data(as_text=True)


def test_last_touch_takes_the_latest_code(make_host):
    host = make_host(REFERRALS_ATTRIBUTION_MODEL="last_touch")
    _, first = host.make_user("ann")
    _, second = host.make_user("cat")
    client = host.client()
    client.get(host.url(f"/r/{first}"))
    client.get(host.url(f"/r/{second}"))
    assert f'value="{second}"' in client.get(host.landing).get_data(as_text=True)


def test_tampered_cookie_is_ignored(host: Host):
    _, code = host.make_user()
    client = host.client()
    client.get(host.url(f"/r/{code}"))
    value = cookie(client).value
    payload, rest = value.split(".", 1)
    client.set_cookie("ref", payload[:-2] + "xx." + rest)
    page = client.get(host.landing).get_data(as_text=True)
    assert f'value="{code}"' not in page
    assert host.join(client, "bob").status_code == 302
    assert host.scalar(sa.text("SELECT count(*) FROM referrals")) == 0


def _captured_days_ago(host: Host, code: str, days: int, monkeypatch):
    """A visitor who followed the link days ago; their client."""
    client = host.client()
    real_time = time.time
    # itsdangerous stamps the cookie with time.time().
    monkeypatch.setattr(
        "itsdangerous.timed.time.time", lambda: real_time() - days * 86400
    )
    client.get(host.url(f"/r/{code}"))
    monkeypatch.setattr("itsdangerous.timed.time.time", real_time)
    return client


def test_cookie_older_than_the_window_is_ignored(host: Host, monkeypatch):
    _, code = host.make_user()
    client = _captured_days_ago(host, code, 31, monkeypatch)
    assert f'value="{code}"' not in client.get(host.landing).get_data(as_text=True)


def test_cookie_inside_the_window_is_used(host: Host, monkeypatch):
    _, code = host.make_user()
    client = _captured_days_ago(host, code, 29, monkeypatch)
    assert f'value="{code}"' in client.get(host.landing).get_data(as_text=True)


def test_raw_ip_is_never_stored(host: Host):
    _, code = host.make_user()
    client = host.client()
    client.get(host.url(f"/r/{code}"), environ_base={"REMOTE_ADDR": "203.0.113.9"})
    visit = host.scalar(sa.select(Visit))
    assert visit.ip_hash and "203.0.113.9" not in visit.ip_hash
    assert len(visit.ip_hash) == 64


def test_forked_processes_draw_different_visitor_ids():
    """Visitor ids are read from the OS ahead of time; a fork must not share them."""
    from referral_site.referrals.capture.cookies import _visitor_ids

    _visitor_ids.next_hex()  # this process now holds a block of ids
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (runs in the child)
        os.write(write_end, _visitor_ids.next_hex().encode())
        os._exit(0)
    os.waitpid(child, 0)
    drawn_by_child = os.read(read_end, 64).decode()
    assert len(drawn_by_child) == 32
    assert drawn_by_child != _visitor_ids.next_hex()
