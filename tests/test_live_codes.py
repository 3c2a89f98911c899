"""Codes live everywhere at once: a suspended, forgotten or freed code stops
earning at once on every worker, and a freed code waits out the attribution window.
"""

import os
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from referral_site.auth.services import set_disabled
from referral_site.referrals.account import service as account
from referral_site.referrals.attribution import services
from referral_site.referrals.fraud.models import ReferralCodeHold
from referral_site.referrals.rewards import conversions
from referral_site.referrals.storage.models import Reward, Visit, utcnow
from tests.conftest import PASSWORD, POSTGRES_URL, login, scalar, signup

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}


def _visits(app, referrer_id) -> int:
    return scalar(
        app,
        sa.select(sa.func.count(Visit.id)).where(Visit.referrer_id == referrer_id),
    )


def _rewards(app, user_id) -> int:
    return scalar(
        app, sa.select(sa.func.count(Reward.id)).where(Reward.user_id == user_id)
    )


def _convert(app, user_id, external_id):
    with app.app_context():
        conversions.record_conversion(
            user_id, kind="purchase", amount=10_000, external_id=external_id
        )


def test_a_disabled_account_neither_captures_nor_attributes_nor_earns(app, make_user):
    ann_id, code = make_user("ann@example.com", "Ann")
    bob_id, _ = make_user("bob@example.com", "Bob", code=code)  # referred before
    with app.app_context():
        set_disabled("ann@example.com", True)
    visitor = app.test_client()
    visitor.get(f"/r/{code}", headers=BROWSER)
    assert _visits(app, ann_id) == 0
    response = signup(visitor, email="cy@example.com", code=code)
    assert "does not exist" in response.get_data(as_text=True)
    _convert(app, bob_id, "ch_1")
    assert _rewards(app, ann_id) == 0
    with app.app_context():
        set_disabled("ann@example.com", False)
    app.test_client().get(f"/r/{code}", headers=BROWSER)
    assert _visits(app, ann_id) == 1
    _convert(app, bob_id, "ch_2")
    assert _rewards(app, ann_id) > 0


def test_a_stale_cached_lookup_of_a_disabled_account_is_refused_at_signup(
    app, make_user
):
    ann_id, code = make_user("ann@example.com", "Ann")
    with app.app_context():
        set_disabled("ann@example.com", True)
    with app.test_request_context():
        session = services.db.session
        stale = services.Referrer(id=ann_id, code=code)  # another worker's cache
        with pytest.raises(services.UnknownCode):
            services.lock_live_referrer(session, stale, ip_hash=None)
        session.rollback()


def test_a_freed_code_is_held_for_the_attribution_window(app, make_user):
    ann_id, _ = make_user("ann@example.com", "Ann")
    cy_id, _ = make_user("cy@example.com", "Cy")
    with app.app_context():
        account.set_vanity_code(ann_id, "annsclub")
        account.delete_account(ann_id, password=PASSWORD)
        with pytest.raises(account.CodeRefused, match="taken"):
            account.set_vanity_code(cy_id, "annsclub")
        hold = services.db.session.get(ReferralCodeHold, "ANNSCLUB")
        window = app.config["REFERRALS_ATTRIBUTION_WINDOW_DAYS"]
        assert hold.held_until >= utcnow() + timedelta(days=window)
        hold.held_until = utcnow() - timedelta(seconds=1)  # the window has passed
        services.db.session.commit()
        assert account.set_vanity_code(cy_id, "annsclub") == "ANNSCLUB"


def test_a_deletion_on_one_worker_empties_every_other_workers_cache(
    make_app, make_user
):
    # PostgreSQL tells the other worker with NOTIFY, SQLite with the stamp file.
    worker_a = make_app(
        REFERRALS_CODE_CACHE_SECONDS=600, REFERRALS_CODE_CHANGES_LISTEN=True
    )
    worker_b = make_app(
        REFERRALS_CODE_CACHE_SECONDS=600, REFERRALS_CODE_CHANGES_LISTEN=True
    )
    ann_id, code = make_user("ann@example.com", "Ann")
    visitor = worker_b.test_client()
    assert visitor.get(f"/r/{code}", headers=BROWSER).status_code == 302
    listener = worker_b.extensions["referrals"].code_changes
    assert listener.listening.wait(5)  # it starts listening with an empty cache
    assert visitor.get(f"/r/{code}", headers=BROWSER).status_code == 302
    with worker_b.test_request_context():
        assert worker_b.extensions["referrals"].code_cache.get(code) is not None
    owner = worker_a.test_client()
    login(owner, "ann@example.com")
    deleted = owner.post("/referrals/delete", data={"password": PASSWORD})
    assert deleted.status_code == 302
    cache = worker_b.extensions["referrals"].code_cache
    started = time.monotonic()
    while cache.get(code) is not None and time.monotonic() - started < 1.0:
        time.sleep(0.01)
    assert cache.get(code) is None  # within a second, not the 600 s TTL
    visitor.get(f"/r/{code}", headers=BROWSER)
    assert _visits(worker_b, ann_id) == 2  # only the clicks before the deletion


@pytest.mark.skipif(not POSTGRES_URL, reason="LISTEN/NOTIFY is PostgreSQL's")
def test_a_worker_that_lost_its_listening_connection_starts_afresh(make_app, make_user):
    app = make_app(REFERRALS_CODE_CACHE_SECONDS=600, REFERRALS_CODE_CHANGES_LISTEN=True)
    _, code = make_user()
    app.test_client().get(f"/r/{code}", headers=BROWSER)
    listener = app.extensions["referrals"].code_changes
    assert listener.listening.wait(5)
    with app.app_context():
        # The server ends the listening connection (a restart, a failover).
        services.db.session.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE (query LIKE 'LISTEN referrals_codes%' OR query = 'SELECT 1') "
                "AND pid <> pg_backend_pid() AND datname = current_database()"
            )
        )
        services.db.session.commit()
    deadline = time.monotonic() + 10
    while listener.listening.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listener.listening.wait(10)  # listening again, with an empty cache
    assert app.extensions["referrals"].code_cache.get(code) is None


def test_a_code_change_that_rolls_back_tells_no_worker(app, make_user):
    from referral_site.referrals.capture import code_changes

    user_id, _ = make_user()
    with app.app_context():
        session = services.db.session
        path = code_changes.stamp_path(session.get_bind().url)
        before = _stamp(path)
        code_changes.announce(session, user_id)
        session.rollback()
        session.commit()  # a later commit of nothing about codes
        assert _stamp(path) == before  # SQLite: the stamp file is left alone
        code_changes.announce(session, user_id)
        session.commit()
        assert path is None or _stamp(path) != before


@pytest.mark.skipif(bool(POSTGRES_URL), reason="NOTIFY is sent by the server at commit")
def test_a_code_change_tells_workers_at_its_commit_not_at_a_savepoint(app, make_user):
    from referral_site.referrals.capture import code_changes

    user_id, _ = make_user()
    with app.app_context():
        session = services.db.session
        path = code_changes.stamp_path(session.get_bind().url)
        before = _stamp(path)
        code_changes.announce(session, user_id)
        with session.begin_nested():
            session.execute(sa.select(1))
        assert _stamp(path) == before  # workers would reload the old codes
        try:
            with session.begin_nested():
                session.execute(sa.select(1))
                raise LookupError
        except LookupError:
            pass
        session.commit()
        assert _stamp(path) != before  # the savepoint's rollback kept the mark


def _stamp(path):
    return os.stat(path).st_mtime_ns if path and os.path.exists(path) else None
