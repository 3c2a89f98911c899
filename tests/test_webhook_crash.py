"""A worker killed (SIGKILL) in the middle of a delivery loses nothing: the next
worker sends it again with the same webhook-id, and every event arrives."""

import signal
import subprocess
import time

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.webhooks.models import DeliveryStatus, WebhookDelivery
from tests import proof
from tests.server import BIN, ROOT, server_environment
from tests.webhook_helpers import HOOK_SETTINGS, add_endpoint, written
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.proof]

LEASE_SECONDS = 2


@pytest.fixture
def jobs_url(tmp_path):
    return f"sqlite:///{tmp_path / 'jobs.sqlite3'}"


@pytest.fixture
def app(make_app, jobs_url):
    """The test's app queues its jobs where the worker processes read them."""
    return make_app(
        **HOOK_SETTINGS,
        REFERRALS_JOBS_URL=jobs_url,
        REFERRALS_OUTBOX_LEASE_SECONDS=LEASE_SECONDS,
    )


def start_worker(app, jobs_url) -> subprocess.Popen:
    """`flask referrals worker` in a process of its own, on the test's database."""
    env = server_environment(
        app.config["SQLALCHEMY_DATABASE_URI"],
        REFERRALS_JOBS_URL=jobs_url,
        REFERRALS_OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS),
        REFERRALS_WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32",
    )
    return subprocess.Popen(
        [BIN / "flask", "--app", "wsgi", "referrals", "worker", "--no-periodic"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def pending(app) -> list[tuple]:
    """(event, status, due) of the deliveries not yet delivered."""
    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(
                sa.select(
                    WebhookDelivery.event_id,
                    WebhookDelivery.status,
                    WebhookDelivery.due_at,
                ).where(WebhookDelivery.status != DeliveryStatus.DELIVERED)
            )
        ]


def nothing_left_due(app) -> bool:
    """Every delivery is delivered: no worker will send anything again."""
    return not pending(app)


def wait_until(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


@pytest.mark.parametrize("run", range(3))
def test_a_worker_killed_mid_delivery_loses_nothing(app, make_user, jobs_url, run):
    receiver = Receiver(hold_seconds=5).start()
    add_endpoint(app, receiver.url)
    worker = start_worker(app, jobs_url)
    try:
        _, code = make_user("ann@example.com")
        assert wait_until(lambda: len(receiver.received) >= 1), worker.stderr
        interrupted = receiver.received[0].webhook_id
        worker.send_signal(signal.SIGKILL)  # it waits for the receiver's answer
        worker.wait()
        receiver.hold_seconds = 0
        proof.record("webhook_worker_kills", 1)
        make_user("bob@example.com", code=code)  # written while no worker runs
        worker = start_worker(app, jobs_url)
        events = {event_id for event_id, _, _ in written(app)}
        # The interrupted delivery comes again once its lease ends, and a dispatch
        # follows up on that lease (within a few seconds of it, not at once).
        assert wait_until(
            lambda: (
                set(receiver.ids()) >= events and receiver.ids().count(interrupted) == 2
            )
        ), receiver.ids()
        assert wait_until(lambda: nothing_left_due(app)), pending(app)
        time.sleep(0.5)  # a send already under way would arrive by now
    finally:
        worker.kill()
        worker.wait()
        receiver.stop()
    received = receiver.ids()
    assert received.count(interrupted) == 2  # again, with the same webhook-id
    assert set(received) == events
    assert len(received) == len(events) + 1
    proof.record("outbox_events_written", len(events))
    proof.record("webhook_deliveries_made", len(received))
    proof.record("webhook_deliveries_lost", len(events - set(received)))
    proof.record("webhook_duplicates_new_id", len(set(received) - events))
