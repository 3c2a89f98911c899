"""The click path at speed: buffered visits, their daily counts and cached codes."""

import re
import threading
import time
import urllib.request

import pytest
import sqlalchemy as sa

from referral_site.referrals.account import service as account
from referral_site.referrals.attribution import services
from referral_site.referrals.capture import visits
from referral_site.referrals.capture.visit_buffer import flush_all
from referral_site.referrals.fraud.models import VisitRollup
from referral_site.referrals.storage.models import Referral, Visit
from tests.conftest import scalar, signup
from tests.server import Browser, fresh_database, gunicorn, log_problems

#: A browser's user agent: HTTP libraries' own are not counted as clicks.
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}
THREADS = 8
CLICKS_EACH = 25


def _visits(app) -> int:
    return scalar(app, sa.select(sa.func.count(Visit.id)))


def _counted_clicks(app) -> int:
    return scalar(app, sa.select(sa.func.coalesce(sa.func.sum(VisitRollup.clicks), 0)))


def _wait_for(predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_buffered_clicks_are_written_on_the_interval(make_app, make_user):
    app = make_app(REFERRALS_VISIT_BUFFER_SECONDS=0.2)
    _, code = make_user()
    for _ in range(3):
        assert app.test_client().get(f"/r/{code}").status_code == 302
    assert _wait_for(lambda: _visits(app) == 3)
    assert _counted_clicks(app) == 3


def test_buffered_clicks_wait_for_the_batch(make_app, make_user):
    app = make_app(REFERRALS_VISIT_BUFFER_SECONDS=60)
    _, code = make_user()
    app.test_client().get(f"/r/{code}")
    assert _visits(app) == 0
    assert app.extensions["referrals"].visit_buffer.pending() == 1
    assert flush_all() >= 1
    assert _visits(app) == 1 and _counted_clicks(app) == 1


def test_concurrent_buffered_clicks_are_all_written(make_app, make_user):
    app = make_app(REFERRALS_VISIT_BUFFER_SECONDS=0.05)
    _, code = make_user()
    statuses = []

    def clicker():
        client = app.test_client()
        for _ in range(CLICKS_EACH):
            statuses.append(client.get(f"/r/{code}").status_code)

    threads = [threading.Thread(target=clicker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    flush_all()
    assert set(statuses) == {302}
    assert _visits(app) == THREADS * CLICKS_EACH
    assert _counted_clicks(app) == THREADS * CLICKS_EACH


def test_a_refused_visit_is_dropped_and_the_rest_of_its_batch_written(
    make_app, make_user
):
    app = make_app(REFERRALS_VISIT_BUFFER_SECONDS=60)
    ann_id, code = make_user()
    with app.test_request_context():
        for referrer in (services.Referrer(id=ann_id + 1000, code="GONE"), None):
            visits.record_visit(
                referrer or services.find_referrer(code),
                visitor_id="v1",
                landing_path="/r/x",
                source=services.CaptureSource.LINK,
                ip=None,
            )
    app.extensions["referrals"].visit_buffer.flush()
    assert _visits(app) == 1 and _counted_clicks(app) == 1
    assert app.extensions["referrals"].visit_buffer.pending() == 0


def test_signup_after_a_buffered_click_is_linked_to_its_visit(make_app, make_user):
    app = make_app(REFERRALS_VISIT_BUFFER_SECONDS=60)
    ann_id, code = make_user()
    visitor = app.test_client()
    visitor.get(f"/r/{code}")
    flush_all()
    assert signup(visitor).status_code == 302
    with app.app_context():
        visit_id = services.db.session.scalar(sa.select(Visit.id))
        referral = services.db.session.scalar(sa.select(Referral))
        assert (referral.referrer_id, referral.visit_id) == (ann_id, visit_id)


def test_a_new_vanity_code_is_recorded_at_once_despite_the_cache(app, make_user):
    ann_id, old_code = make_user()
    app.test_client().get(f"/r/{old_code}")  # caches OLD -> Ann
    with app.app_context():
        account.set_vanity_code(ann_id, "annsnewcode")
    app.test_client().get(f"/r/{old_code}")
    codes = [row.code for row in _all_visits(app)]
    assert codes == [old_code, "ANNSNEWCODE"]


def test_a_deleted_accounts_link_stops_counting_at_once(app, make_user):
    _, code = make_user()
    visitor = app.test_client()
    visitor.get(f"/r/{code}")
    with app.app_context():
        user_id = services.find_referrer(code).id
        account.delete_account(user_id, password="correct horse battery")
    visitor.get(f"/r/{code}")
    assert _visits(app) == 1


def _all_visits(app):
    with app.app_context():
        return services.db.session.execute(
            sa.select(Visit.code).order_by(Visit.id)
        ).all()


@pytest.mark.parametrize("stop", ["graceful", "worker restart"])
def test_gunicorn_loses_no_buffered_click(tmp_path, stop):
    """Clicks still in the buffer are written when workers exit (gunicorn.conf.py)."""
    with fresh_database(tmp_path, "buffer") as url:
        extra = {"REFERRALS_VISIT_BUFFER_SECONDS": "3600"}
        if stop == "worker restart":
            extra["GUNICORN_CMD_ARGS"] = "--max-requests 7"
        log = tmp_path / "log"
        with gunicorn(url, workers=2, log=log, **extra) as base:
            code = _signed_up_code(base)
            opener = urllib.request.build_opener(_NoRedirect())
            for _ in range(40):
                request = urllib.request.Request(f"{base}/r/{code}", headers=BROWSER)
                opener.open(request, timeout=30).close()
        # The server is stopped (SIGTERM) when the block ends.
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            visits = connection.scalar(sa.select(sa.func.count()).select_from(Visit))
            counted = connection.scalar(sa.select(sa.func.sum(VisitRollup.clicks)))
        engine.dispose()
        assert (visits, counted) == (40, 40)
        assert log_problems(log) == []


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def http_error_302(self, req, fp, code, msg, headers):
        return fp


def _signed_up_code(base: str) -> str:
    browser = Browser(base)
    browser.get("/signup")
    browser.post(
        "/signup",
        {
            "name": "Ann",
            "email": "ann@example.com",
            "password": "correct horse battery",
        },
    )
    browser.sign_in("ann@example.com", "correct horse battery")
    _, page = browser.get("/referrals")
    return re.search(r'id="referral-link"[^>]*value="[^"]*/r/(\w+)"', page).group(1)
