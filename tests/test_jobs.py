"""The jobs run on Huey: the former cron commands on their schedules, the dispatch
after each commit, and a queue shared between hosts through Redis."""

import os
import socket
import time
from datetime import datetime

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.attribution import services
from referral_site.referrals.jobs.queue import make_huey, queue_of, tasks_of
from referral_site.referrals.jobs.wake import WakeUp
from referral_site.referrals.jobs.worker import running
from referral_site.referrals.outbox import events
from referral_site.referrals.outbox.events import WAKE_UP
from referral_site.referrals.outbox.models import OutboxEvent
from referral_site.referrals.storage.models import Reward, RewardStatus
from referral_site.referrals.storage.transactions import write_transaction
from tests.reward_helpers import conversion_body, post_conversion, referred_pair
from tests.webhook_helpers import HOOK_SETTINGS, add_endpoint
from tests.webhook_receiver import Receiver

#: The test's database number on the shared Redis: one per test database, so the
#: SQLite and the PostgreSQL suites can run side by side (CI runs them so).
REDIS_DB = 13 if os.environ.get("TEST_DATABASE_URL") else 12


@pytest.mark.parametrize(
    ("task", "runs_at", "skips"),
    [
        ("sweep", datetime(2026, 1, 1, 9, 7), None),
        ("process_rewards", datetime(2026, 1, 1, 9, 7), None),
        (
            "refresh_leaderboards",
            datetime(2026, 1, 1, 9, 45),
            datetime(2026, 1, 1, 9, 46),
        ),
        ("purge_visits", datetime(2026, 1, 1, 3, 30), datetime(2026, 1, 1, 4, 30)),
        (
            "purge_payout_changes",
            datetime(2026, 1, 1, 3, 50),
            datetime(2026, 1, 1, 4, 50),
        ),
    ],
)
def test_the_periodic_jobs_keep_the_cron_schedule(app, task, runs_at, skips):
    job = tasks_of(app).periodic[task].task_class()
    assert job.validate_datetime(runs_at)
    assert skips is None or not job.validate_datetime(skips)


def test_the_process_rewards_job_approves_what_is_due(make_app, make_user):
    app = make_app(**HOOK_SETTINGS)
    referred_pair(make_user)
    post_conversion(app.test_client(), **conversion_body())
    with running(app):
        tasks_of(app).periodic["process_rewards"]()  # queued as the scheduler does
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and pending(app):
            time.sleep(0.05)
    assert pending(app) == 0
    with app.app_context():
        approved = db.session.scalar(
            sa.select(sa.func.count(Reward.id)).where(
                Reward.status == RewardStatus.APPROVED
            )
        )
    assert approved == 2


def sign_up(app, email: str) -> None:
    """A signup in this app (make_user's fixture app queues its jobs elsewhere)."""
    with app.app_context():
        services.sign_up(name="Ann", email=email, password="x" * 12, capture=None)


def pending(app) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count(Reward.id)).where(
                Reward.status == RewardStatus.PENDING
            )
        )


def test_in_immediate_mode_a_commit_delivers_its_webhooks_at_once(make_app):
    app = make_app(**HOOK_SETTINGS, REFERRALS_JOBS_URL="immediate")
    receiver = Receiver().start()
    try:
        add_endpoint(app, receiver.url)
        sign_up(app, "ann@example.com")
        assert len(receiver.received) == 1  # no worker: the commit ran the job
    finally:
        receiver.stop()


def test_the_dispatch_is_woken_once_the_events_are_committed(app):
    """Not when a savepoint inside their transaction is released: a worker would
    find nothing yet, and the commit itself would then wake no one."""
    events_seen_by_a_worker = []

    def wake_up():
        with db.engine.connect() as worker:
            count = sa.select(sa.func.count()).select_from(OutboxEvent)
            events_seen_by_a_worker.append(worker.scalar(count))

    app.extensions[WAKE_UP] = wake_up
    with app.app_context():
        with write_transaction() as session:
            events.record(session, events.USER_SIGNED_UP, {"user_id": 1})
            with session.begin_nested():  # as a reward's grant does
                session.flush()
    assert events_seen_by_a_worker == [1]


@pytest.mark.parametrize(
    "url", ["ftp://queue.example", "mysql://queue.example/jobs", "nonsense"]
)
def test_an_unknown_queue_url_stops_the_app_at_startup(make_app, url):
    with pytest.raises(ValueError, match="REFERRALS_JOBS_URL"):
        make_app(REFERRALS_JOBS_URL=url)


def test_the_default_queue_is_a_sqlite_file_in_the_instance_folder(tmp_path):
    huey = make_huey("", str(tmp_path / "instance"))
    assert huey.storage.filename == str(tmp_path / "instance/referrals-jobs.sqlite3")


def _redis_running() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _redis_running(), reason="no Redis on 127.0.0.1:6379")
def test_two_hosts_share_their_jobs_through_redis(make_app):
    settings = HOOK_SETTINGS | {
        "REFERRALS_JOBS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}"
    }
    web, worker = make_app(**settings), make_app(**settings)
    queue_of(web).storage.flush_all()
    receiver = Receiver().start()
    try:
        add_endpoint(web, receiver.url)
        sign_up(web, "ann@example.com")  # the web host queues the dispatch...
        assert queue_of(web).pending_count() >= 1
        with running(worker):  # ...the other host's worker runs it
            received = receiver.wait_for(1, timeout=10)
        assert len(received) == 1
    finally:
        receiver.stop()
        queue_of(web).storage.flush_all()


def test_commits_close_together_queue_one_job_each_window_and_none_is_missed():
    queued = []
    wake_up = WakeUp(lambda: queued.append(time.monotonic()), window=0.2)
    asked = []
    for _ in range(5):  # five commits within 50 ms
        asked.append(time.monotonic())
        wake_up()
        time.sleep(0.01)
    assert len(queued) == 1  # the first, at once; the others are owed one job
    deadline = time.monotonic() + 5
    while len(queued) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(queued) == 2 and queued[1] > asked[-1]  # after the last commit
    assert queued[1] - queued[0] >= 0.2  # at the window's end, not before
    time.sleep(max(0.0, queued[1] + 0.25 - time.monotonic()))
    wake_up()  # after a quiet window: at once again
    assert len(queued) == 3


def test_a_queue_that_is_down_does_not_fail_the_commit(caplog):
    def broken():
        raise ConnectionError("redis is down")

    WakeUp(broken, window=0)()  # logged, not raised
    assert "the sweep will" in caplog.text
    # An expected condition: one warning line, no traceback.
    (logged,) = [r for r in caplog.records if "sweep" in r.getMessage()]
    assert logged.levelname == "WARNING" and logged.exc_info is None
    assert "ConnectionError: redis is down" in logged.getMessage()
