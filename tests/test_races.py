"""Races against a real gunicorn with several workers, each repeated many times."""

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import sqlalchemy as sa

from tests import proof
from tests.conftest import PASSWORD
from tests.race_tools import (
    ADMINS,
    RACE_ENV,
    backdate_referrals,
    create_admins,
    in_parallel,
    post_json,
    process_rewards_at_once,
    rows,
    signed_in,
)
from tests.server import Browser, fresh_database, gunicorn, log_problems

pytestmark = pytest.mark.slow

REPEATS = 20
SIGNUPS = 50


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("races")
    with (
        fresh_database(tmp, "races") as url,
        gunicorn(url, workers=4, log=tmp / "log", **RACE_ENV) as base,
    ):
        create_admins(url)
        yield base, url, tmp / "log"


def _count(url: str, sql: str, **params) -> int:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(sql), params).scalar_one()
    finally:
        engine.dispose()


def _sign_up(
    base: str, email: str, code: str = "", via_link: bool = False, sign_in=False
):
    browser = Browser(base)
    if via_link:
        browser.get(f"/r/{code}")
    browser.get("/signup")
    form = {"name": email.split("@")[0], "email": email, "password": PASSWORD}
    status, _ = browser.post("/signup", form | {"referral_code": code})
    if sign_in:
        assert browser.sign_in(email, PASSWORD) == 302
    return status, browser


@pytest.mark.parametrize("run", range(REPEATS))
def test_fifty_concurrent_signups_with_one_code_are_all_attributed(server, run):
    base, url, log = server
    status, referrer = _sign_up(base, f"referrer{run}@example.com", sign_in=True)
    assert status == 302
    page = referrer.get("/referrals")[1]
    code = re.search(r'id="referral-link"[^>]*value="[^"]*/r/(\w+)"', page).group(1)
    jobs = [
        (lambda n=n: _sign_up(base, f"r{run}-friend{n}@example.com", code, True)[0])
        for n in range(SIGNUPS)
    ]
    statuses = in_parallel(jobs)
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
    requests = [browser.form_request("/signup", form) for _ in range(2)]
    statuses = in_parallel([lambda r=r: browser.send(r)[0] for r in requests])
    accounts = _count(
        url, "SELECT count(*) FROM users WHERE email = :e", e=f"twice{run}@example.com"
    )
    proof.record("double_submits", 1)
    proof.record("double_submit_duplicates", accounts - 1)
    assert accounts == 1
    assert statuses == [302, 302]  # a taken address answers like a new one
    assert log_problems(log) == []


# -- conversions and rewards through the API, the admin queue and the CLI -----------

#: Long enough ago that every reward's hold (14 days) is over.
MONTH_AGO = (datetime.now(UTC) - timedelta(days=30)).isoformat()
POSTS = 8


def _referrer_and_friends(base: str, url: str, prefix: str, friends: int) -> list[str]:
    """Sign up a referrer and friends with their code; returns the friends' emails."""
    _, referrer = _sign_up(base, f"{prefix}-ann@example.com", sign_in=True)
    page = referrer.get("/referrals")[1]
    code = re.search(r'id="referral-link"[^>]*value="[^"]*/r/(\w+)"', page).group(1)
    emails = [f"{prefix}-friend{n}@example.com" for n in range(friends)]
    for email in emails:
        assert _sign_up(base, email, code)[0] == 302
    # They joined before the purchases the tests date a month back.
    backdate_referrals(url, emails, days=40)
    return emails


def _conversion(email: str, external_id: str) -> dict:
    return {
        "email": email,
        "kind": "purchase",
        "amount": 4999,
        "currency": "USD",
        "external_id": external_id,
        "occurred_at": MONTH_AGO,
    }


def _grants(url: str, prefix: str) -> Counter:
    """How many rewards each (rule, source, recipient) of a round's users has."""
    found = rows(
        url,
        "SELECT w.rule, w.source_key, u.email FROM rewards w"
        " JOIN users u ON u.id = w.user_id WHERE u.email LIKE :p",
        p=f"{prefix}-%",
    )
    return Counter(found)


@pytest.mark.parametrize("run", range(REPEATS))
def test_one_conversion_posted_at_once_by_many_clients_is_stored_once(server, run):
    base, url, log = server
    prefix = f"conv{run}"
    (friend,) = _referrer_and_friends(base, url, prefix, 1)
    body = _conversion(friend, f"race-{prefix}")
    answers = in_parallel([lambda: post_json(base, "/api/conversions", body)] * POSTS)
    stored = rows(
        url,
        "SELECT count(*) FROM conversions WHERE external_id = :e",
        e=body["external_id"],
    )[0][0]
    grants = _grants(url, prefix)
    duplicates = (stored - 1) + sum(count - 1 for count in grants.values())
    proof.record("conversion_race_posts", POSTS)
    proof.record("conversion_race_duplicates", duplicates)
    assert sorted(status for status, _ in answers) == [200] * (POSTS - 1) + [201]
    assert len({json.dumps(answer, sort_keys=True) for _, answer in answers}) == 1
    assert (stored, sorted(grants.values())) == (1, [1, 1])
    assert log_problems(log) == []
    proof.record("conversion_race_rounds_passed", 1)


@pytest.mark.parametrize("run", range(REPEATS))
def test_racing_qualifying_conversions_grant_each_reward_once(server, run):
    """Two conversions of each of two friends at once: both friends' "first" and
    the referrer's milestones 2 and 3 (the first friend converted before)."""
    base, url, log = server
    prefix = f"grant{run}"
    first, *racing = _referrer_and_friends(base, url, prefix, 3)
    assert post_json(base, "/api/conversions", _conversion(first, f"{prefix}-a"))[0]
    jobs = [
        partial(post_json, base, "/api/conversions", _conversion(email, f"{email}-{n}"))
        for email in racing
        for n in range(2)
    ]
    answers = in_parallel(jobs)
    grants = _grants(url, prefix)
    referrer = f"{prefix}-ann@example.com"
    expected = Counter(
        [("first-conversion", k, e) for k, e in _first_sources(url, prefix)]
        + [("milestone", f"milestone:{n}", referrer) for n in (2, 3)]
    )
    wrong = sum(((grants - expected) + (expected - grants)).values())
    proof.record("grant_races", 1)
    proof.record("grant_race_wrong_rewards", wrong)
    assert [status for status, _ in answers] == [201] * len(jobs)
    assert grants == expected
    assert log_problems(log) == []
    proof.record("grant_race_rounds_passed", 1)


def _first_sources(url: str, prefix: str) -> list[tuple[str, str]]:
    """(source_key, recipient) of each "first conversion" reward a round should have:
    the referrer and the referred user, once per referral."""
    referrals = rows(
        url,
        "SELECT r.id, a.email, b.email FROM referrals r"
        " JOIN users a ON a.id = r.referrer_id JOIN users b ON b.id = r.referred_id"
        " WHERE b.email LIKE :p",
        p=f"{prefix}-friend%",
    )
    return [
        (f"referral:{rid}", email)
        for rid, referrer, referred in referrals
        for email in (referrer, referred)
    ]


@pytest.mark.parametrize("run", range(REPEATS))
def test_two_admins_deciding_one_reward_over_http_make_one_decision(server, run):
    base, url, log = server
    prefix = f"admin{run}"
    (friend,) = _referrer_and_friends(base, url, prefix, 1)
    status, answer = post_json(
        base, "/api/conversions", _conversion(friend, f"{prefix}-c")
    )
    reward_id = answer["rewards"][0]["id"]
    admins = [signed_in(base, email) for email in ADMINS]
    for admin in admins:
        admin.get("/admin/rewards?status=pending")
    # Many signups from one address flag referrals: the admins read why first.
    seen = {"confirm_flagged": "y"}
    approved = admins[0].post(
        "/admin/rewards", {"reward_ids": reward_id, "approve": 1, **seen}
    )
    # Paying and rejecting an approved reward exclude each other; approving and
    # then rejecting it would be two legitimate decisions in a row.
    choices = [{"pay": "Mark paid"}, {"reject": "Reject", "reason": "duplicate"}]
    statuses = in_parallel(
        [
            (
                lambda admin=admin, choice=choice: admin.post(
                    "/admin/rewards", {"reward_ids": reward_id, **choice, **seen}
                )[0]
            )
            for admin, choice in zip(admins, choices, strict=True)
        ]
    )
    pages = [admin.get("/admin/rewards")[1] for admin in admins]
    decisions = rows(
        url,
        "SELECT count(*) FROM reward_events WHERE reward_id = :id"
        " AND from_status = 'approved'",
        id=reward_id,
    )[0][0]
    told = [f"Reward #{reward_id} " in page for page in pages]
    proof.record("admin_decision_races", 1)
    proof.record("admin_double_decisions", decisions - 1)
    assert (status, approved[0], statuses, decisions) == (201, 302, [302, 302], 1)
    assert sorted(told) == [False, True], "the losing admin is told why"
    assert log_problems(log) == []
    proof.record("admin_decision_rounds_passed", 1)


PROCESS_RUNS = 3


@pytest.mark.parametrize("run", range(REPEATS))
def test_overlapping_process_rewards_runs_move_each_reward_once(server, run):
    base, url, log = server
    prefix = f"cron{run}"
    for n, email in enumerate(_referrer_and_friends(base, url, prefix, 2)):
        post_json(base, "/api/conversions", _conversion(email, f"{prefix}-{n}"))
    due = rows(url, "SELECT count(*) FROM rewards WHERE status = 'pending'")[0][0]
    runs = process_rewards_at_once(url, PROCESS_RUNS)
    moved = sum(
        sum(int(n) for n in re.findall(r"\d+", run.stdout))
        for run in runs
        if run.returncode == 0
    )
    moves = rows(
        url,
        "SELECT reward_id, count(*) FROM reward_events"
        " WHERE from_status = 'pending' GROUP BY reward_id HAVING count(*) > 1",
    )
    left = rows(url, "SELECT count(*) FROM rewards WHERE status = 'pending'")[0][0]
    proof.record("process_rewards_overlapping_runs", PROCESS_RUNS)
    proof.record("process_rewards_duplicates", sum(n - 1 for _, n in moves))
    assert [run.returncode for run in runs] == [0] * PROCESS_RUNS, runs
    assert (due >= 5, moved, left, moves) == (True, due, 0, [])
    assert log_problems(log) == []
    proof.record("process_rewards_rounds_passed", 1)
