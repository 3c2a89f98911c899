"""Races against a real gunicorn with several workers, each repeated many times."""

import re
import threading

import pytest
import sqlalchemy as sa

from tests import proof
from tests.conftest import PASSWORD
from tests.server import Browser, fresh_database, gunicorn, log_problems

pytestmark = pytest.mark.slow

REPEATS = 20
SIGNUPS = 50


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("races")
    with (
        fresh_database(tmp, "races") as url,
        gunicorn(url, workers=4, log=tmp / "log") as base,
    ):
        yield base, url, tmp / "log"


def _in_parallel(jobs) -> list:
    results = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def run(index, job):
        barrier.wait()
        try:
            results[index] = job()
        except Exception as error:  # noqa: BLE001 - reported in the results
            results[index] = error

    threads = [threading.Thread(target=run, args=item) for item in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _count(url: str, sql: str, **params) -> int:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(sql), params).scalar_one()
    finally:
        engine.dispose()


def _sign_up(base: str, email: str, code: str = "", via_link: bool = False):
    browser = Browser(base)
    if via_link:
        browser.get(f"/r/{code}")
    browser.get("/signup")
    form = {"name": email.split("@")[0], "email": email, "password": PASSWORD}
    status, _ = browser.post("/signup", form | {"referral_code": code})
    return status, browser


@pytest.mark.parametrize("run", range(REPEATS))
def test_fifty_concurrent_signups_with_one_code_are_all_attributed(server, run):
    base, url, log = server
    status, referrer = _sign_up(base, f"referrer{run}@example.com")
    assert status == 302
    page = referrer.get("/referrals")[1]
    code = re.search(r'id="referral-link"[^>]*value="[^"]*/r/(\w+)"', page).group(1)
    jobs = [
        (lambda n=n: _sign_up(base, f"r{run}-friend{n}@example.com", code, True)[0])
        for n in range(SIGNUPS)
    ]
    statuses = _in_parallel(jobs)
    errors = [s for s in statuses if s != 302]
    referred = _count(
        url,
        "SELECT count(*) FROM referrals r JOIN users u ON u.id = r.referrer_id "
        "WHERE u.email = :email",
        email=f"referrer{run}@example.com",
    )
    users = _count(
        url, "SELECT count(*) FROM users WHERE email LIKE :p", p=f"r{run}-friend%"
    )
    page = referrer.get("/referrals")[1]
    shown = int(re.search(r'data-stat="signups">(\d+)<', page).group(1))
    proof.record("concurrent_signups_attempted", SIGNUPS)
    proof.record("concurrent_signups_held", min(users, referred, shown))
    proof.record("concurrent_signup_errors", len(errors))
    assert (users, referred, shown, errors) == (SIGNUPS, SIGNUPS, SIGNUPS, [])
    assert log_problems(log) == []
    proof.record("concurrent_signup_runs_passed", 1)


@pytest.mark.parametrize("run", range(REPEATS))
def test_a_double_submitted_signup_form_creates_one_account(server, run):
    base, url, log = server
    browser = Browser(base)
    browser.get("/signup")
    form = {
        "name": "Twice",
        "email": f"twice{run}@example.com",
        "password": PASSWORD,
        "referral_code": "",
    }
    statuses = _in_parallel([lambda: browser.post("/signup", form)[0]] * 2)
    accounts = _count(
        url, "SELECT count(*) FROM users WHERE email = :e", e=f"twice{run}@example.com"
    )
    proof.record("double_submits", 1)
    proof.record("double_submit_duplicates", accounts - 1)
    assert accounts == 1
    assert sorted(statuses) == [302, 400]
    assert log_problems(log) == []
