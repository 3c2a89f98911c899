"""Stripe's concurrent and repeated deliveries against a real gunicorn: the same
signed event from 8 clients at once, then replayed, has one effect."""

import json
import urllib.error
import urllib.request

import pytest

from tests import proof
from tests.race_tools import RACE_ENV, in_parallel, rows
from tests.server import fresh_database, gunicorn, log_problems
from tests.stripe_events import SECRET, checkout, event, sign
from tests.test_races import _referrer_and_friends

pytestmark = pytest.mark.slow

REPEATS = 20
DELIVERIES = 8
REPLAYS = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stripe-races")
    env = RACE_ENV | {"REFERRALS_STRIPE_WEBHOOK_SECRET": SECRET}
    with (
        fresh_database(tmp, "stripe_races") as url,
        gunicorn(url, workers=4, log=tmp / "log", **env) as base,
    ):
        yield base, url, tmp / "log"


def deliver(base: str, raw: bytes) -> tuple[int, dict]:
    """POST a body as Stripe does, signed now."""
    request = urllib.request.Request(
        base + "/api/billing/stripe",
        data=raw,
        headers={"Stripe-Signature": sign(raw), "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.mark.parametrize("run", range(REPEATS))
def test_one_stripe_event_delivered_at_once_and_replayed_has_one_effect(server, run):
    base, url, log = server
    prefix = f"stripe{run}"
    (friend,) = _referrer_and_friends(base, url, prefix, 1)
    ((user_id,),) = rows(url, "SELECT id FROM users WHERE email = :e", e=friend)
    session = checkout(user_id)
    raw = json.dumps(event("checkout.session.completed", session)).encode()
    racing = in_parallel([lambda: deliver(base, raw)] * DELIVERIES)
    external = f"stripe:{session['payment_intent']}"
    after_race = _effects(url, external)
    replays = [deliver(base, raw) for _ in range(REPLAYS)]
    after_replays = _effects(url, external)
    # The race rule grants on the first conversion to both sides: 2 rewards.
    race_duplicates = sum(after_race) - 3
    proof.record("stripe_race_deliveries", DELIVERIES)
    proof.record("stripe_race_duplicates", max(race_duplicates, 0))
    proof.record("stripe_replays", REPLAYS)
    proof.record("stripe_replay_duplicates", sum(after_replays) - sum(after_race))
    assert [status for status, _ in racing + replays] == [200] * (DELIVERIES + REPLAYS)
    fresh = [answer for _, answer in racing if not answer["duplicate"]]
    assert len(fresh) == 1 and fresh[0]["outcome"] == "applied"
    assert all(answer["duplicate"] for _, answer in replays)
    assert after_race == after_replays == (1, 2)
    assert log_problems(log) == []
    proof.record("stripe_race_rounds_passed", 1)


def _effects(url: str, external_id: str) -> tuple[int, int]:
    """(conversions, rewards) stored for a conversion's external id."""
    (stored,) = rows(
        url, "SELECT count(*) FROM conversions WHERE external_id = :e", e=external_id
    )[0]
    (grants,) = rows(
        url,
        "SELECT count(*) FROM rewards w JOIN conversions c ON c.id = w.conversion_id"
        " WHERE c.external_id = :e",
        e=external_id,
    )[0]
    return stored, grants
