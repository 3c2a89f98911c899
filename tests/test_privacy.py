"""Privacy and attribution policy: no raw IP stored, visits purged, typed vs cookie."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
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
from tests.conftest import login, scalar, signup

RAW_IP = "203.0.113.77"


def test_no_raw_ip_is_stored_anywhere(app, make_user):
    _, code = make_user()
    visitor = app.test_client()
    visitor.environ_base["REMOTE_ADDR"] = RAW_IP
    visitor.get(f"/r/{code}")
    visitor.get(f"/?ref={code}")
    signup(visitor)
    visitor.get("/referrals")
    login(visitor, "ann@example.com")
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(sa.select(table)):
                assert all(RAW_IP not in str(value) for value in row), table.name
        assert db.session.scalar(sa.select(Referral.signup_ip_hash)) == (
            visits.hash_ip(RAW_IP)
        )


def test_rotating_the_ip_key_changes_every_hash(make_app):
    first = make_app(REFERRALS_IP_HASH_KEY="key-one")
    second = make_app(REFERRALS_IP_HASH_KEY="key-two")
    with first.app_context():
        one = visits.hash_ip(RAW_IP)
    with second.app_context():
        two = visits.hash_ip(RAW_IP)
    assert one != two and len(one) == len(two) == 64


def _age_visits(app, days, count):
    """Move the first `count` visits `days` into the past."""
    with app.app_context():
        ids = db.session.scalars(sa.select(Visit.id).order_by(Visit.id).limit(count))
        db.session.execute(
            sa.update(Visit)
            .where(Visit.id.in_(list(ids)))
            .values(created_at=utcnow() - timedelta(days=days))
        )
        db.session.commit()


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


def test_purge_deletes_old_visits_and_keeps_the_counts(app, runner, make_user):
    ann_id, code = make_user()
    visitor = app.test_client()
    for _ in range(5):
        visitor.get(f"/r/{code}")
    signup(visitor)
    _age_visits(app, 100, 3)
    before = _figures(app, ann_id)
    assert before[:3] == (5, 1, 5)
    result = runner.invoke(args=["referrals", "purge-visits"])
    assert result.exit_code == 0, result.output
    assert "Purged 3 visits older than 90 days" in result.output
    assert scalar(app, sa.select(sa.func.count(Visit.id))) == 2
    # Every click was counted when written; the purge leaves the counts alone.
    assert scalar(app, sa.select(sa.func.sum(VisitRollup.clicks))) == 5
    assert _figures(app, ann_id) == before
    runner.invoke(args=["referrals", "purge-visits"])  # again: nothing doubles
    assert _figures(app, ann_id) == before


@pytest.mark.parametrize(("days", "purged"), [(89, 0), (91, 1)])
def test_purge_respects_the_retention_setting(app, runner, make_user, days, purged):
    _, code = make_user()
    app.test_client().get(f"/r/{code}")
    _age_visits(app, days, 1)
    runner.invoke(args=["referrals", "purge-visits"])
    assert scalar(app, sa.select(sa.func.count(Visit.id))) == 1 - purged


def test_purge_days_can_be_given_on_the_command_line(app, runner, make_user):
    _, code = make_user()
    app.test_client().get(f"/r/{code}")
    _age_visits(app, 10, 1)
    result = runner.invoke(args=["referrals", "purge-visits", "--days", "7"])
    assert "Purged 1 visits" in result.output
    assert runner.invoke(args=["referrals", "purge-visits", "--days", "0"]).exit_code


def test_purge_scrubs_old_signup_evidence(app, runner, make_user):
    _, code = make_user()
    signup(app.test_client(), code=code)
    with app.app_context():
        db.session.execute(
            sa.update(Referral).values(created_at=utcnow() - timedelta(days=100))
        )
        db.session.commit()
    runner.invoke(args=["referrals", "purge-visits"])
    referral = scalar(app, sa.select(Referral))
    assert referral.signup_ip_hash is None and referral.signup_visitor_id is None


@pytest.mark.parametrize(("typed_wins", "winner"), [(True, "typed"), (False, "cookie")])
def test_typed_code_versus_cookie_follows_the_setting(
    make_app, make_user, typed_wins, winner
):
    app = make_app(REFERRALS_TYPED_CODE_WINS=typed_wins)
    ann_id, ann_code = make_user("ann@example.com", "Ann")
    cat_id, cat_code = make_user("cat@example.com", "Cat")
    visitor = app.test_client()
    visitor.get(f"/r/{ann_code}")
    signup(visitor, code=cat_code)
    referral = scalar(app, sa.select(Referral))
    if winner == "typed":
        assert (referral.referrer_id, referral.source) == (cat_id, CaptureSource.TYPED)
    else:
        assert (referral.referrer_id, referral.source) == (ann_id, CaptureSource.LINK)
        assert referral.visit_id is not None


def test_a_cleared_code_field_means_no_referral_whatever_the_setting(
    make_app, make_user
):
    app = make_app(REFERRALS_TYPED_CODE_WINS=False)
    _, code = make_user()
    visitor = app.test_client()
    visitor.get(f"/r/{code}")
    signup(visitor, code="")
    assert scalar(app, sa.select(sa.func.count(Referral.id))) == 0
