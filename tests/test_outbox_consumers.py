"""Consumers get every event at least once, each at its own pace."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.outbox import consumers, dispatch
from referral_site.referrals.outbox.models import OutboxEvent, OutboxProgress
from referral_site.referrals.storage.models import utcnow


@pytest.fixture
def register():
    """Only the consumers a test registers, for that test (the webhooks' is put
    back afterwards)."""
    before = consumers.registered()
    for name in before:
        consumers.unregister(name)
    yield consumers.register
    for name in consumers.registered():
        consumers.unregister(name)
    for consumer in before.values():
        consumers.register(consumer.name, consumer.handler, types=consumer.types)


def progress(app, consumer):
    with app.app_context():
        return db.session.execute(
            sa.select(OutboxProgress.attempts, OutboxProgress.done_at.is_not(None))
            .where(OutboxProgress.consumer == consumer)
            .order_by(OutboxProgress.id)
        ).all()


def test_each_consumer_gets_each_event_once(app, make_user, register):
    seen, signups = [], []
    register("test-all", lambda event: seen.append(event.id))
    register("test-signups", signups.append, types={"user.signed_up"})
    _, code = make_user("ann@example.com")
    make_user("bob@example.com", code=code)
    with app.app_context():
        dispatch.dispatch()
        dispatch.dispatch()
        written = list(db.session.scalars(sa.select(OutboxEvent.id)))
    assert sorted(seen) == sorted(written) and len(written) == 3
    assert [event.type for event in signups] == ["user.signed_up"] * 2
    assert signups[1].payload["referral_id"] is not None


def test_a_failing_consumer_holds_back_no_other(app, make_user, register):
    seen, calls = [], []

    def flaky(event):
        calls.append(event.id)
        if len(calls) == 1:
            raise ConnectionError("mail server down")

    register("test-flaky", flaky)
    register("test-steady", lambda event: seen.append(event.id))
    make_user()
    with app.app_context():
        assert dispatch.dispatch().failed == 1
        assert len(seen) == 1 and progress(app, "test-flaky") == [(1, False)]
        # Not due yet: the backoff holds it back.
        assert dispatch.run_due() == (0, 0)
        assert dispatch.run_due(now=utcnow() + timedelta(seconds=13)) == (1, 0)
    assert calls == [seen[0], seen[0]]
    assert progress(app, "test-flaky") == [(2, True)]


def test_a_run_cut_short_is_run_again_once_its_lease_ends(
    make_app, make_user, register
):
    app = make_app(REFERRALS_OUTBOX_LEASE_SECONDS=60)
    runs = []
    register("test-lease", lambda event: runs.append(event.id))
    make_user()
    with app.app_context():
        dispatch.fan_out()
        (claim,) = dispatch._claim_due(10, utcnow())  # the worker then dies
        assert dispatch.run_due() == (0, 0)  # leased: nobody else runs it
        assert dispatch.run_due(now=utcnow() + timedelta(seconds=61)) == (1, 0)
        dispatch._finish(claim, None)  # the first worker's late finish is ignored
    assert runs == [claim.event.id]
    assert progress(app, "test-lease") == [(2, True)]


def test_a_consumer_is_given_up_after_its_last_attempt(make_app, make_user, register):
    app = make_app(REFERRALS_OUTBOX_MAX_ATTEMPTS=2)
    register("test-broken", lambda event: 1 / 0)
    make_user()
    with app.app_context():
        dispatch.dispatch()
        dispatch.run_due(now=utcnow() + timedelta(hours=2))
        assert dispatch.run_due(now=utcnow() + timedelta(days=2)) == (0, 0)
        error = db.session.scalar(sa.select(OutboxProgress.last_error))
    assert error.startswith("ZeroDivisionError")
    assert progress(app, "test-broken") == [(2, False)]


@pytest.mark.parametrize("name", ["", "x" * 41])
def test_a_consumer_needs_a_short_name(name):
    with pytest.raises(ValueError):
        consumers.register(name, print)
