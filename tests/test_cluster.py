"""The multi-host recipe under faults: two hosts behind HAProxy, PostgreSQL, Redis.

Marked ``cluster``: `make cluster` (and `make proof`, hence .ci/run) runs it on
PostgreSQL (CLUSTER_DATABASE_URL or TEST_DATABASE_URL). Every answer through the
proxy is checked: none may be a 500, and the clicks answered must be recorded,
within the bound docs/deployment.md states (the last buffer interval of a host
killed outright).
"""

import http.client
import re
import threading
import time
import uuid
from collections import Counter
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

import pytest

from referral_site import create_app
from referral_site.extensions import db
from referral_site.referrals.outbox.events import USER_SIGNED_UP
from tests import proof
from tests.cluster_harness import (
    Cluster,
    database_url,
    drop_schema,
    haproxy_binary,
    migrated_schema,
    wait_for,
)
from tests.conftest import _base
from tests.redis_server import redis_binary
from tests.webhook_helpers import add_endpoint
from tests.webhook_receiver import Receiver

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not database_url(), reason="needs PostgreSQL"),
    pytest.mark.skipif(not haproxy_binary(), reason="needs haproxy"),
    pytest.mark.skipif(not redis_binary(), reason="needs redis-server"),
]

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
PASSWORD = "correct horse battery"
#: Every status the suite saw through the proxy, for the proof table.
SEEN: Counter = Counter()


def record(metric: str, value: int) -> None:
    proof.record(metric, value, db="cluster")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = database_url()
    running = Cluster(migrated_schema(base), tmp_path_factory.mktemp("cluster"))
    running.start()
    yield running
    running.stop()
    drop_schema(base)
    record("cluster_requests", sum(SEEN.values()))
    record("cluster_500s", SEEN[500])


@pytest.fixture
def up(cluster):
    """The cluster with every part running, whatever the last test did to it."""
    cluster.relay.thaw()
    cluster.relay.restore()
    if cluster.redis.process is None:
        cluster.redis.start()
    cluster.wait_until_serving()
    return cluster


class Response:
    def __init__(self, status: int, headers, body: str) -> None:
        self.status, self.headers, self.body = status, headers, body


class Client:
    """A browser enough for the site: cookies (Secure ones too), CSRF tokens."""

    def __init__(self, base: str, source: str | None = None) -> None:
        self.base = urlsplit(base)
        #: Another address to connect from (all of 127.0.0.0/8 is loopback): the
        #: hosts' per-address limits count each address apart. Bound only when
        #: asked: a bound source port is not reused while in TIME_WAIT, and the
        #: load tests open thousands of connections.
        self.source = source
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None) -> Response:
        connection = http.client.HTTPConnection(
            self.base.hostname,
            self.base.port,
            timeout=60,
            source_address=(self.source, 0) if self.source else None,
        )
        headers = {"User-Agent": BROWSER, "Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            text = answer.read().decode(errors="replace")
        finally:
            connection.close()
        for header in answer.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        SEEN[answer.status] += 1
        return Response(answer.status, answer.headers, text)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def submit(self, page: str, path: str, fields: dict) -> Response:
        """Post a form with the CSRF token the page gave."""
        html = self.get(page).body
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
        return self.request("POST", path, fields | {"csrf_token": token.group(1)})


def join(base: str, name: str, code: str = "") -> Client:
    client = Client(base)
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.org"
    response = client.submit(
        "/signup",
        "/signup",
        {"name": name, "email": email, "password": PASSWORD, "referral_code": code},
    )
    assert response.status == 302, response.body[:500]
    # A signup answers alike for new and taken addresses: it signs nobody in.
    response = client.submit("/login", "/login", {"email": email, "password": PASSWORD})
    assert response.status == 302, response.body[:500]
    return client


def my_code(client: Client) -> str:
    return re.search(r"/r/([A-Z0-9]+)", client.get("/referrals").body).group(1)


def user_id_of(cluster: Cluster, code: str):
    return cluster.scalar(
        "SELECT user_id FROM referral_accounts WHERE code = :code", code=code
    )


def visits_of(cluster: Cluster, user_id) -> int:
    return cluster.scalar(
        "SELECT count(*) FROM visits WHERE referrer_id = :id", id=user_id
    )


def click(base: str, code: str, source: str | None = None) -> int:
    return Client(base, source).get(f"/r/{code}").status


def clicks_for(base: str, code: str, seconds: float, threads: int = 4) -> list:
    """Fresh visitors clicking for a while; (time answered, status) of each."""
    answers: list = []
    stop = time.monotonic() + seconds

    def visitor():
        while time.monotonic() < stop:
            status = click(base, code)
            answers.append((time.monotonic(), status))

    workers = [threading.Thread(target=visitor) for _ in range(threads)]
    for worker in workers:
        worker.start()
    return workers, answers


def wait_until_recorded(cluster, user_id, expected: int, seconds: float = 15) -> int:
    try:
        wait_for(lambda: visits_of(cluster, user_id) >= expected, seconds, "visits")
    except TimeoutError:
        pass
    return visits_of(cluster, user_id)


def test_clicks_through_the_proxy_are_all_recorded(up):
    code = my_code(join(up.url, "ann"))
    ann = user_id_of(up, code)
    workers, answers = clicks_for(up.url, code, seconds=3)
    for worker in workers:
        worker.join()
    statuses = Counter(status for _, status in answers)
    assert statuses.keys() == {302}
    recorded = wait_until_recorded(up, ann, len(answers))
    record("cluster_clicks_answered", len(answers))
    record("cluster_clicks_lost", len(answers) - recorded)
    assert recorded == len(answers)
    served = [h.access_log.read_text() for h in up.hosts]
    assert all(f"/r/{code}" in log for log in served)  # both hosts took clicks
    assert not any("/readyz" in log for log in served)  # checks stay out


def test_rate_limits_are_shared_by_every_worker_of_every_host(up):
    guesser = "127.0.0.2"  # its misses must not count against the other tests
    statuses = [click(up.url, f"NOPE{n:04d}X", guesser) for n in range(14)]
    # 10 unknown codes a minute per address, counted in Redis: 4 workers on 2
    # hosts counting alone would let 40 through.
    assert statuses[:10] == [302] * 10
    assert set(statuses[10:]) == {429}
    assert click(up.url, "NOPE9999X") == 302  # from another address: its own count


def test_an_account_deleted_on_one_host_stops_earning_on_the_other(up):
    host_a, host_b = (host.url for host in up.hosts)
    ann = join(host_a, "ann")
    code = my_code(ann)
    ann_id = user_id_of(up, code)
    early = Client(host_b)
    assert early.get(f"/r/{code}").status == 302  # captured before the deletion
    for _ in range(20):  # every worker of host B caches the code
        assert click(host_b, code) == 302
    assert wait_until_recorded(up, ann_id, 21) == 21
    deleted = ann.submit("/referrals", "/referrals/delete", {"password": PASSWORD})
    assert deleted.status == 302
    time.sleep(1.0)
    # An address of its own: these misses must not count against the other tests.
    late = [Client(host_b, source="127.0.0.3") for _ in range(20)]
    for visitor in late:
        # An unknown code now: it counts against the code-guessing limit too.
        assert visitor.get(f"/r/{code}").status in (302, 429)
        assert "ref" not in visitor.cookies  # nothing captured for the deleted
    time.sleep(2.5)  # past the click buffer's interval
    credited_after = visits_of(up, ann_id) - 21
    bob = early.submit(  # the cookie from before the deletion
        "/signup",
        "/signup",
        {
            "name": "bob",
            "email": f"bob-{uuid.uuid4().hex[:8]}@example.org",
            "password": PASSWORD,
            "referral_code": code,
        },
    )
    referrals = up.scalar(
        "SELECT count(*) FROM referrals WHERE referrer_id = :id", id=ann_id
    )
    rewards = up.scalar("SELECT count(*) FROM rewards WHERE user_id = :id", id=ann_id)
    record("cluster_clicks_credited_after_deletion", credited_after)
    record("cluster_rewards_to_deleted_accounts", rewards + referrals)
    assert bob.status == 400 and "does not exist" in bob.body  # a form error
    assert (credited_after, referrals, rewards) == (0, 0, 0)


def test_a_host_killed_under_load_fails_over(up):
    code = my_code(join(up.url, "cy"))
    cy = user_id_of(up, code)
    workers, answers = clicks_for(up.url, code, seconds=5)
    time.sleep(2)
    killed_at = time.monotonic()
    up.hosts[0].kill()
    for worker in workers:
        worker.join()
    statuses = Counter(status for _, status in answers)
    answered = [at for at, status in answers if status == 302]
    recorded = wait_until_recorded(up, cy, len(answered), seconds=5)
    # A hard kill loses what the killed host had buffered: at most the clicks of
    # its last buffer interval (1 s), so at most those answered in that second.
    bound = sum(1 for at in answered if killed_at - 1.5 <= at <= killed_at + 0.5)
    record("cluster_host_kills", 1)
    record("cluster_clicks_answered", len(answered))
    record("cluster_clicks_lost_with_the_killed_host", len(answered) - recorded)
    record("cluster_clicks_lost_beyond_bound", max(0, len(answered) - recorded - bound))
    assert 500 not in statuses, up.server_errors()
    assert set(statuses) <= {302, 502, 503}
    assert len(answered) - recorded <= bound
    up.hosts[0].start()


def test_a_host_drained_and_restarted_for_a_deploy_drops_nothing(up):
    code = my_code(join(up.url, "gus"))
    gus = user_id_of(up, code)
    workers, answers = clicks_for(up.url, code, seconds=6)
    time.sleep(1)
    up.admin("set server hosts/host1 state drain")  # docs/deployment.md's steps
    time.sleep(1)
    up.hosts[0].stop()  # SIGTERM: requests in flight finish, clicks are flushed
    up.hosts[0].start()
    up.admin("set server hosts/host1 state ready")
    for worker in workers:
        worker.join()
    statuses = Counter(status for _, status in answers)
    recorded = wait_until_recorded(up, gus, len(answers))
    record("cluster_drained_deploys", 1)
    record("cluster_clicks_answered", len(answers))
    record("cluster_clicks_lost", len(answers) - recorded)
    assert statuses.keys() == {302}
    assert recorded == len(answers)


def test_redis_stopped_and_started(up):
    code = my_code(join(up.url, "dee"))
    up.redis.stop()
    wrong = {"email": "x@example.org", "password": "not it"}
    statuses = [
        Client(up.url).submit("/login", "/login", wrong).status,
        click(up.url, "NOSUCHCODE1"),
        click(up.url, code),
    ]
    join(up.url, "eve", code)  # a signup answers 302 (join checks it)
    # A host started while Redis is down serves too.
    up.hosts[1].stop()
    up.hosts[1].start()
    statuses.append(Client(up.hosts[1].url).submit("/login", "/login", wrong).status)
    up.redis.start()
    statuses.append(click(up.url, "NOSUCHCODE2"))
    record("cluster_redis_restarts", 1)
    assert all(status in (200, 302, 429) for status in statuses), statuses


def _outage(up, start, end, seconds: float):
    """Clicks and signed-in pages through an outage; statuses seen, clicks recorded."""
    code = my_code(member := join(up.url, "fay"))
    fay = user_id_of(up, code)
    for _ in range(8):  # every worker caches the code
        click(up.url, code)
    before = wait_until_recorded(up, fay, 8)
    pids = {host.name: host.worker_pids() for host in up.hosts}
    workers, answers = clicks_for(up.url, code, seconds=seconds + 2, threads=2)
    time.sleep(1)
    start()
    pages = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        pages.append(member.get("/referrals").status)
        time.sleep(0.2)
    end()
    for worker in workers:
        worker.join()
    up.wait_until_serving()
    statuses = Counter(status for _, status in answers) + Counter(pages)
    answered = sum(1 for _, status in answers if status == 302)
    recorded = wait_until_recorded(up, fay, before + answered, seconds=20) - before
    workers_kept = all(host.worker_pids() == pids[host.name] for host in up.hosts)
    return statuses, answered, recorded, workers_kept


def test_the_database_connection_cut_gives_503s_and_keeps_clicks(up):
    statuses, answered, recorded, kept = _outage(
        up, up.relay.cut, up.relay.restore, seconds=4
    )
    record("cluster_database_cuts", 1)
    record("cluster_clicks_lost", answered - recorded)
    assert 500 not in statuses, (statuses, up.server_errors())
    assert statuses[503] > 0, statuses
    assert recorded == answered and kept


def test_a_frozen_database_gives_503s_kills_no_worker_and_keeps_clicks(up):
    statuses, answered, recorded, kept = _outage(
        up, up.relay.freeze, up.relay.thaw, seconds=6
    )
    record("cluster_database_freezes", 1)
    record("cluster_clicks_lost", answered - recorded)
    record("cluster_workers_killed", 0 if kept else 1)
    assert 500 not in statuses, (statuses, up.server_errors())
    assert statuses[503] > 0, statuses
    assert recorded == answered and kept


def test_each_hosts_job_worker_shares_the_queue_and_every_event_arrives_once(up):
    """Each host runs a job worker on the shared Redis queue (periodic jobs on one):
    the signups made through the proxy, on either host, reach a webhook receiver
    once each and signed, after the Redis restart and the database faults above."""
    receiver = Receiver().start()
    app = create_app(
        _base()
        | {"SQLALCHEMY_DATABASE_URI": up.database_url}
        | {"REFERRALS_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32"}
    )
    try:
        _, secret = add_endpoint(app, receiver.url, types=[USER_SIGNED_UP])
        for n in range(6):
            join(up.url, f"hooked{n}")
        received = receiver.wait_for(6, timeout=60)
        time.sleep(1)  # a duplicate would arrive right behind
        deliveries = list(receiver.received)
    finally:
        receiver.stop()
        app.extensions["referrals"].code_changes.stop()
        with app.app_context():
            db.engine.dispose()
    ids = [delivery.webhook_id for delivery in deliveries]
    record("cluster_webhook_deliveries", len(ids))
    record("cluster_webhook_lost_or_duplicated", abs(6 - len(ids)) + 6 - len(set(ids)))
    assert len(received) == 6 and len(set(ids)) == len(ids) == 6, ids
    assert all(delivery.verifies_with(secret) for delivery in deliveries)
    assert all(up.jobs_running()), "a host's job worker exited"
