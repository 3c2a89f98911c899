"""Concurrent writers: clicks and signups from many threads, nothing lost or locked."""

import threading

import sqlalchemy as sa

from referral_site.models import User
from referral_site.referrals.storage.models import Referral, Visit
from tests.conftest import scalar, signup

THREADS = 8
CLICKS_EACH = 15


def _run_all(targets) -> list:
    errors = []
    barrier = threading.Barrier(len(targets))

    def wrap(target):
        barrier.wait()
        try:
            target()
        except Exception as error:  # noqa: BLE001 - collected and asserted on
            errors.append(error)

    threads = [threading.Thread(target=wrap, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_clicks_and_signups_are_all_recorded(app, make_user):
    _, code = make_user()
    statuses = []

    def clicker():
        client = app.test_client()
        for _ in range(CLICKS_EACH):
            statuses.append(client.get(f"/r/{code}").status_code)

    def joiner(n):
        def run():
            client = app.test_client()
            client.get(f"/r/{code}")
            statuses.append(signup(client, email=f"friend{n}@example.com").status_code)

        return run

    targets = [clicker for _ in range(THREADS)] + [joiner(n) for n in range(THREADS)]
    assert _run_all(targets) == []
    assert set(statuses) == {302}
    assert (
        scalar(app, sa.select(sa.func.count(Visit.id)))
        == THREADS * CLICKS_EACH + THREADS
    )
    assert scalar(app, sa.select(sa.func.count(Referral.id))) == THREADS
    assert scalar(app, sa.select(sa.func.count(User.id))) == THREADS + 1
