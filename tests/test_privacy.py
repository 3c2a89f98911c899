"""Privacy and attribution policy: no raw IP stored, visits purged, typed vs cookie.

The tests run on both hosts (tests/hosts.py), the site and the bookshop.
"""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from referral_site.referrals.account import figures
from referral_site.referrals.capture import visits
from referral_site.referrals.fraud.models import VisitRollup
from referral_site.referrals.reports import figures as reports
from referral_site.referrals.reports import leaderboard
from referral_site.referrals.storage.models import (
    CaptureSource,
    Referral,
    Visit,
    utcnow,
)
from tests.hosts import Host

RAW_IP = "203.0.113.77"


def test_no_raw_ip_is_stored_anywhere(host: Host):
    _, code = host.make_user("ann")
    visitor = host.client(RAW_IP)
    visitor.get(host.url(f"/r/{code}"))
    visitor.get(f"/?ref={code}")
    host.join(visitor, "bob")
    visitor.get(host.url("/referrals"))
    host.sign_in(visitor, "ann")
    with host.session() as session:
        tables = host.app.extensions["referrals"].db.metadata.sorted_tables
        for table in tables:
            for row in session.execute(sa.select(table)):
                assert all(RAW_IP not in str(value) for value in row), table.name
        assert session.scalar(sa.select(Referral.signup_ip_hash)) == (
            visits.hash_ip(RAW_IP)
        )


def test_rotating_the_ip_key_changes_every_hash(make_host):
    first = make_host(REFERRALS_IP_HASH_KEY="key-one").app
    second = make_host(REFERRALS_IP_HASH_KEY="key-two").app
    with first.app_context():
        one = visits.hash_ip(RAW_IP)
    with second.app_context():
        two = visits.hash_ip(RAW_IP)
    assert one != two and len(one) == len(two) == 64


def _age_visits(host: Host, days, count):
    """Move the first `count` visits `days` into the past."""
    with host.session() as session:
        ids = session.scalars(sa.select(Visit.id).order_by(Visit.id).limit(count))
        session.execute(
            sa.update(Visit)
            .where(Visit.id.in_(list(ids)))
            .values(created_at=utcnow() - timedelta(days=days))
        )
        session.commit()


def _figures(app, user_id):
    """The counts /referrals and the all-time /admin report show."""
    with app.app_context():
        summary = figures.referrer_summary(user_id)
        everything = reports.date_range("all")
        leaders = leaderboard.leaderboard_page(everything, page=1, per_page=10)
        return (
            summary.clicks,
            summary.signups,
            reports.funnel(everything).clicks,
            {row.id: row.clicks for row in leaders.items},
        )


def _purge(host: Host, *args: str):
    return host.app.test_cli_runner().invoke(args=["referrals", "purge-visits", *args])


def test_purge_deletes_old_visits_and_keeps_the_counts(host: Host):
    ann_id, code = host.make_user("ann")
    visitor = host.client()
    for _ in range(5):
        visitor.get(host.url(f"/r/{code}"))
    host.join(visitor, "bob")
    _age_visits(host, 100, 3)
    before = _figures(host.app, ann_id)
    assert before[:3] == (5, 1, 5)
    result = _purge(host)
    assert result.exit_code == 0, result.output
    assert "Purged 3 visits older than 90 days" in result.output
    assert host.count(Visit.id) == 2
    # Every click was counted when written; the purge leaves the counts alone.
    assert host.scalar(sa.select(sa.func.sum(VisitRollup.clicks))) == 5
    assert _figures(host.app, ann_id) == before
    _purge(host)  # again: nothing doubles
    assert _figures(host.app, ann_id) == before


@pytest.mark.parametrize(("days", "purged"), [(89, 0), (91, 1)])
def test_purge_respects_the_retention_setting(host: Host, days, purged):
    _, code = host.make_user("ann")
    host.client().get(host.url(f"/r/{code}"))
    _age_visits(host, days, 1)
    _purge(host)
    assert host.count(Visit.id) == 1 - purged


def test_purge_days_can_be_given_on_the_command_line(host: Host):
    _, code = host.make_user("ann")
    host.client().get(host.url(f"/r/{code}"))
    _age_visits(host, 10, 1)
    assert "Purged 1 visits" in _purge(host, "--days", "7").output
    assert _purge(host, "--days", "0").exit_code


def test_purge_scrubs_old_signup_evidence(host: Host):
    _, code = host.make_user("ann")
    host.join(host.client(), "bob", code)
    with host.session() as session:
        session.execute(
            sa.update(Referral).values(created_at=utcnow() - timedelta(days=100))
        )
        session.commit()
    _purge(host)
    referral = host.scalar(sa.select(Referral))
    assert referral.signup_ip_hash is None and referral.signup_visitor_id is None


@pytest.mark.parametrize(("typed_wins", "winner"), [(True, "typed"), (False, "cookie")])
def test_typed_code_versus_cookie_follows_the_setting(make_host, typed_wins, winner):
    host = make_host(REFERRALS_TYPED_CODE_WINS=typed_wins)
    ann_id, ann_code = host.make_user("ann")
    cat_id, cat_code = host.make_user("cat")
    visitor = host.client()
    visitor.get(host.url(f"/r/{ann_code}"))
    host.join(visitor, "bob", cat_code)
    referral = host.scalar(sa.select(Referral))
    if winner == "typed":
        assert (referral.referrer_id, referral.source) == (cat_id, CaptureSource.TYPED)
    else:
        assert (referral.referrer_id, referral.source) == (ann_id, CaptureSource.LINK)
        assert referral.visit_id is not None


def test_a_cleared_code_field_means_no_referral_whatever_the_setting(make_host):
    host = make_host(REFERRALS_TYPED_CODE_WINS=False)
    _, code = host.make_user("ann")
    visitor = host.client()
    visitor.get(host.url(f"/r/{code}"))
    host.join(visitor, "bob", "")
    assert host.count(Referral.id) == 0
