"""Webhooks reach a real receiver, signed per Standard Webhooks, once per endpoint."""

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.jobs.worker import running
from referral_site.referrals.outbox import dispatch
from referral_site.referrals.outbox.events import TYPES
from referral_site.referrals.storage.models import utcnow
from referral_site.referrals.webhooks import endpoints
from referral_site.referrals.webhooks.delivery import deliver_due
from referral_site.referrals.webhooks.models import DeliveryStatus, WebhookDelivery
from tests import proof
from tests.webhook_helpers import (
    HOOK_SETTINGS,
    add_endpoint,
    attempts,
    every_event_type,
    written,
)
from tests.webhook_receiver import Receiver

REWARD_TYPES = ("reward.created", "reward.status_changed")


@pytest.fixture
def app(make_app):
    """The app of every fixture here (make_user's too): its jobs are the ones run."""
    return make_app(**HOOK_SETTINGS)


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def deliver_now(app, now=None):
    """The dispatch job's body: hand out events, send what is due."""
    with app.app_context():
        dispatch.dispatch()
        return deliver_due(now=now)


@pytest.mark.proof
def test_each_event_type_arrives_once_per_subscribed_endpoint(app, make_user, receiver):
    _, every_secret = add_endpoint(app, receiver.url + "/every")
    _, reward_secret = add_endpoint(app, receiver.url + "/rewards", REWARD_TYPES)
    every_event_type(app, make_user)
    events = written(app)
    reward_events = written(app, REWARD_TYPES)
    # Payouts need a cash program and an admin's batch: tests/test_payout_events.py.
    assert {type_ for _, type_, _ in events} == set(TYPES) - {
        "webhook.endpoint_disabled",
        "payout.paid",
        "payout.failed",
    }
    with running(app):
        receiver.wait_for(len(events) + len(reward_events))
        time.sleep(0.5)  # time for a duplicate to show, if there were one
    by_path = {
        path: [r for r in receiver.received if r.path == path]
        for path in ("/every", "/rewards")
    }
    assert sorted(r.webhook_id for r in by_path["/every"]) == sorted(
        event_id for event_id, _, _ in events
    )
    assert sorted(r.webhook_id for r in by_path["/rewards"]) == sorted(
        event_id for event_id, _, _ in reward_events
    )
    assert all(r.verifies_with(every_secret) for r in by_path["/every"])
    assert all(r.verifies_with(reward_secret) for r in by_path["/rewards"])
    assert not any(r.verifies_with(reward_secret) for r in by_path["/every"])
    stored = {event_id: (type_, payload) for event_id, type_, payload in events}
    for request in by_path["/every"]:
        envelope = request.envelope
        assert (envelope["type"], envelope["data"]) == stored[request.webhook_id]
        assert envelope["version"] == 1 and envelope["id"] == request.webhook_id
    delivered = len(by_path["/every"]) + len(by_path["/rewards"])
    proof.record("outbox_events_written", len(events))
    proof.record("webhook_deliveries_made", delivered)
    proof.record(
        "webhook_deliveries_lost", len(events) + len(reward_events) - delivered
    )
    known = {event_id for event_id, _, _ in events}
    proof.record("webhook_duplicates_new_id", len(set(receiver.ids()) - known))


def test_a_receiver_down_for_a_while_gets_everything_when_back(
    app, make_user, receiver
):
    add_endpoint(app, receiver.url)
    receiver.stop()
    _, code = make_user("ann@example.com")
    make_user("bob@example.com", code=code)
    events = written(app)
    with running(app):
        deadline = time.monotonic() + 10
        while len(attempts(app)) < len(events) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [ok for _, ok, _ in attempts(app)] == [False] * len(events)
        receiver.start()
        # The worker retries by itself 5 seconds (±10%) after the failure.
        received = receiver.wait_for(len(events), timeout=15)
    assert sorted(received) == sorted(event_id for event_id, _, _ in events)
    log = attempts(app)
    assert [(code, ok) for code, ok, _ in log[len(events) :]] == [(200, True)] * 3
    assert all(text == "Connection refused or unreachable." for _, _, text in log[:3])


def test_the_old_secret_verifies_during_a_rotation_and_not_after(
    app, make_user, receiver
):
    endpoint_id, old_secret = add_endpoint(app, receiver.url)
    with app.app_context():
        endpoints.rotate_secret(endpoint_id)
    new_secret = endpoints_secret(app, endpoint_id)
    make_user("ann@example.com")
    deliver_now(app)
    (during,) = receiver.received
    assert during.verifies_with(old_secret) and during.verifies_with(new_secret)
    make_user("bob@example.com")
    deliver_now(app, now=utcnow() + timedelta(hours=25))
    after = receiver.received[1]
    assert after.verifies_with(new_secret) and not after.verifies_with(old_secret)


def endpoints_secret(app, endpoint_id):
    from tests.webhook_helpers import secret_of

    return secret_of(app, endpoint_id)


def test_a_redirect_is_not_followed(app, make_user, receiver):
    add_endpoint(app, receiver.url + "/hook")
    receiver.redirect_to = receiver.url + "/elsewhere"
    make_user()
    assert deliver_now(app).failed == 1
    assert [r.path for r in receiver.received] == ["/hook"]
    assert [(code, ok) for code, ok, _ in attempts(app)] == [(302, False)]
    with app.app_context():
        status = db.session.scalar(sa.select(WebhookDelivery.status))
    assert status == DeliveryStatus.PENDING  # retried later, still not followed


def test_a_private_address_is_refused_without_the_allowlist(
    make_app, make_user, receiver
):
    app = make_app(**HOOK_SETTINGS | {"REFERRALS_WEBHOOK_ALLOWED_NETWORKS": ""})
    add_endpoint(app, receiver.url)
    make_user()
    assert deliver_now(app).failed == 1
    assert receiver.received == []
    ((code, ok, text),) = attempts(app)
    assert (code, ok) == (None, False)
    assert "127.0.0.1, an internal address" in text
