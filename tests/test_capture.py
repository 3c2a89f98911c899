"""Capturing referral links: /r/<code>, ?ref=, the signed cookie and its window."""

import os
import time

import pytest
import sqlalchemy as sa

from referral_site.referrals.storage.models import CaptureSource, Visit
from tests.conftest import login, scalar, signup

VISITS = sa.select(sa.func.count(Visit.id))


def cookie(client, name="ref"):
    return client.get_cookie(name)


def test_following_a_link_records_a_visit_sets_cookie_and_lands_on_signup(
    app, client, make_user
):
    referrer_id, code = make_user()
    response = client.get(f"/r/{code}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/signup"
    set_cookie = [
        h for h in response.headers.getlist("Set-Cookie") if h.startswith("ref=")
    ]
    assert "HttpOnly" in set_cookie[0] and "SameSite=Lax" in set_cookie[0]
    assert "Max-Age=2592000" in set_cookie[0]  # 30 days
    visit = scalar(app, sa.select(Visit))
    assert (visit.referrer_id, visit.code, visit.source) == (
        referrer_id,
        code,
        CaptureSource.LINK,
    )
    assert visit.landing_path == f"/r/{code}"
    assert len(visit.visitor_id) == 32
    assert client.get("/signup").get_data(as_text=True).count(f'value="{code}"') == 1


def test_codes_match_case_insensitively(app, client, make_user):
    _, code = make_user()
    client.get(f"/r/{code.lower()}")
    assert cookie(client) is not None
    assert scalar(app, VISITS) == 1


def test_ref_query_parameter_captures_on_any_page(app, client, make_user):
    _, code = make_user()
    response = client.get(f"/?ref={code}")
    assert response.status_code == 200
    assert scalar(app, sa.select(Visit.source)) == CaptureSource.QUERY
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
def test_unknown_or_malformed_codes_set_nothing_and_still_land(
    app, client, make_user, bad
):
    make_user()
    response = client.get(f"/r/{bad}")
    assert response.status_code == 302 and response.headers["Location"] == "/signup"
    assert cookie(client) is None
    assert client.get(f"/?ref={bad}").status_code == 200
    assert cookie(client) is None
    assert scalar(app, VISITS) == 0


def test_head_requests_are_not_clicks(app, client, make_user):
    _, code = make_user()
    assert client.head(f"/r/{code}").status_code == 302
    assert scalar(app, VISITS) == 0
    assert cookie(client) is None


def test_following_your_own_link_is_not_a_click(app, client, make_user):
    _, code = make_user()
    login(client, "ann@example.com")
    client.get(f"/r/{code}")
    assert scalar(app, VISITS) == 0


def test_visitor_id_is_kept_across_clicks(app, client, make_user):
    _, code = make_user()
    client.get(f"/r/{code}")
    client.get(f"/r/{code}")
    assert scalar(app, sa.select(sa.func.count(sa.distinct(Visit.visitor_id)))) == 1
    assert scalar(app, VISITS) == 2


def test_first_touch_keeps_the_first_code(app, client, make_user):
    _, first = make_user("ann@example.com")
    _, second = make_user("cat@example.com", "Cat")
    client.get(f"/r/{first}")
    client.get(f"/r/{second}")
    assert scalar(app, VISITS) == 2  # both clicks count
    assert f'value="{first}"' in client.get("/signup").get_data(as_text=True)


def test_last_touch_takes_the_latest_code(make_app, make_user):
    app = make_app(REFERRALS_ATTRIBUTION_MODEL="last_touch")
    client = app.test_client()
    _, first = make_user("ann@example.com")
    _, second = make_user("cat@example.com", "Cat")
    client.get(f"/r/{first}")
    client.get(f"/r/{second}")
    assert f'value="{second}"' in client.get("/signup").get_data(as_text=True)


def test_tampered_cookie_is_ignored(app, client, make_user):
    _, code = make_user()
    client.get(f"/r/{code}")
    value = cookie(client).value
    payload, rest = value.split(".", 1)
    client.set_cookie("ref", payload[:-2] + "xx." + rest)
    page = client.get("/signup").get_data(as_text=True)
    assert f'value="{code}"' not in page
    signup(client)
    assert scalar(app, sa.text("SELECT count(*) FROM referrals")) == 0


def test_cookie_older_than_the_window_is_ignored(app, client, make_user, monkeypatch):
    _, code = make_user()
    real_time = time.time
    # Capture 31 days ago: itsdangerous stamps the cookie with time.time().
    monkeypatch.setattr(
        "itsdangerous.timed.time.time", lambda: real_time() - 31 * 86400
    )
    client.get(f"/r/{code}")
    monkeypatch.setattr("itsdangerous.timed.time.time", real_time)
    assert f'value="{code}"' not in client.get("/signup").get_data(as_text=True)


def test_cookie_inside_the_window_is_used(app, client, make_user, monkeypatch):
    _, code = make_user()
    real_time = time.time
    monkeypatch.setattr(
        "itsdangerous.timed.time.time", lambda: real_time() - 29 * 86400
    )
    client.get(f"/r/{code}")
    monkeypatch.setattr("itsdangerous.timed.time.time", real_time)
    assert f'value="{code}"' in client.get("/signup").get_data(as_text=True)


def test_raw_ip_is_never_stored(app, client, make_user):
    _, code = make_user()
    client.get(f"/r/{code}", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    visit = scalar(app, sa.select(Visit))
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
