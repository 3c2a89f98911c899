"""`make bench` (outbox part): a signup with its outbox writes against the same
signup without them, in the same run, and webhook delivery throughput.

Signups run in this process through the plugin's signup service, half of them
referred (so they write user.signed_up, referral.created and, by the default
rules, nothing more), in rounds that alternate the two variants. "Without"
replaces the function that writes an outbox row with one that writes nothing
(so no wake-up is queued either); everything else is the same code. Two kinds of
signup are timed: with the site's real password hashing (what a person waits
for), and with the cheapest hashing, where the transaction alone is measured and
the outbox's share is largest.

Deliveries: N events are written, one endpoint points at a receiver in another
process, and the dispatch job's body (hand out, then send what is due) runs until
all are delivered. Figures are measurements, never assertions.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager

import sqlalchemy as sa

from bench import database, results
from bench.servers import ROOT

ROUNDS_HEADER = (
    "| Signup | With outbox: signups/s (median time) | Without | Cost (per signup) "
    "| CPU cost (of the signup's CPU) |"
)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--signups", type=int, default=300, help="per variant, round")
    parser.add_argument(
        "--hashed-signups",
        type=int,
        default=60,
        help="per variant and round, with the site's password hashing (slow)",
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL") or None
    )
    return parser.parse_args()


def make_app(url: str, *, cheap_hashing: bool):
    from referral_site import create_app

    jobs = database.DATA / "outbox-jobs.sqlite3"
    config = {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "benchmark-secret",
        "REFERRALS_JOBS_URL": f"sqlite:///{jobs}",
        "REFERRALS_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
        "RATELIMIT_ENABLED": False,
    }
    if cheap_hashing:
        config |= {"PASSWORD_HASH_TIME_COST": 1, "PASSWORD_HASH_MEMORY_KIB": 8}
    return create_app(config)


@contextmanager
def outbox_writes(enabled: bool):
    """The outbox as it is, or with its row writer replaced by a no-op."""
    from referral_site.referrals.outbox import events

    original = events.record
    if not enabled:
        events.record = lambda session, type_, payload: ""
    try:
        yield
    finally:
        events.record = original


def signups(app, count: int, code: str, start: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds each of ``count`` signups took (every other referred)."""
    from referral_site.referrals.attribution import services

    times = []
    with app.app_context():
        for i in range(start, start + count):
            capture = (
                services.Capture(code=code, source=services.CaptureSource.TYPED)
                if i % 2
                else None
            )
            began, cpu = time.perf_counter(), time.process_time()
            services.sign_up(
                name=f"Bench {i}",
                email=f"bench{i}@example.com",
                password="correct horse battery",
                capture=capture,
            )
            times.append((time.perf_counter() - began, time.process_time() - cpu))
    return times


def compare_signups(
    app, args, label: str, start: int, count: int
) -> tuple[list[str], int]:
    """Many short alternating batches of both variants, so that the load of a
    shared machine falls on both alike; medians of the signups' own times."""
    from referral_site.referrals.attribution import accounts, services

    with app.app_context():
        referrer = services.sign_up(
            name="Referrer",
            email=f"referrer{start}@example.com",
            password="correct horse battery",
            capture=None,
        )
        code = accounts.account_of(referrer.id).code
    times = {True: [], False: []}
    start += 1
    signups(app, 20, code, start)  # warm-up
    start += 20
    batch = 10
    for round_ in range(max(1, count * args.rounds // batch)):
        order = (True, False) if round_ % 2 == 0 else (False, True)
        for enabled in order:
            with outbox_writes(enabled):
                times[enabled] += signups(app, batch, code, start)
            start += batch
    with_, without = (
        statistics.median(wall for wall, _ in times[enabled]) for enabled in (1, 0)
    )
    cpu_with, cpu_without = (
        statistics.median(cpu for _, cpu in times[enabled]) for enabled in (1, 0)
    )
    line = (
        f"| {label} | {1 / with_:,.0f} ({with_ * 1000:.2f} ms) | "
        f"{1 / without:,.0f} ({without * 1000:.2f} ms) | "
        f"{(1 - without / with_) * 100:+.1f}% ({(with_ - without) * 1e6:,.0f} µs) | "
        f"{(cpu_with - cpu_without) * 1e6:,.0f} µs of {cpu_without * 1000:.2f} ms "
        f"({(1 - cpu_without / cpu_with) * 100:+.1f}%) |"
    )
    return [line], start


@contextmanager
def receiver():
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.receiver"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{process.stdout.readline().strip()}/hook"
    finally:
        process.kill()
        process.wait()


def deliveries(app, count: int, concurrency: int) -> str:
    """Deliveries per second of ``count`` events to a local receiver."""
    from referral_site.referrals.outbox import dispatch, events
    from referral_site.referrals.storage.transactions import write_transaction
    from referral_site.referrals.webhooks import endpoints
    from referral_site.referrals.webhooks.delivery import deliver_due
    from referral_site.referrals.webhooks.models import WebhookEndpoint

    app.config["REFERRALS_WEBHOOK_CONCURRENCY"] = concurrency
    with receiver() as url, app.app_context():
        with write_transaction() as session:
            session.execute(sa.delete(WebhookEndpoint))
        dispatch.dispatch()  # the signups' events, handed out before any endpoint
        fields = endpoints.EndpointFields(url, "bench", [], True)
        endpoints.create_endpoint(fields)
        with write_transaction() as session:
            for i in range(count):
                events.record(session, "user.signed_up", {"user_id": i})
        began = time.perf_counter()
        sent = 0
        while sent < count:
            dispatch.dispatch()
            step = deliver_due(batch_size=200)
            if step.delivered + step.failed == 0:
                break
            sent += step.delivered
        elapsed = time.perf_counter() - began
    return f"| {concurrency} | {sent:,} of {count:,} | {sent / elapsed:,.0f} |"


def main() -> None:
    args = arguments()
    url = database.fresh_database("outbox", args.database_url)
    (database.DATA / "outbox-jobs.sqlite3").unlink(missing_ok=True)
    kind = "postgresql" if args.database_url else "sqlite"
    lines = [
        f"## Outbox and webhooks: {kind}",
        "",
        *results.header(kind),
        "",
        ROUNDS_HEADER,
        "| --- | --- | --- | --- | --- |",
    ]
    real, start = compare_signups(
        make_app(url, cheap_hashing=False),
        args,
        f"site hashing (argon2id), {args.hashed_signups} a round",
        0,
        args.hashed_signups,
    )
    cheap, start = compare_signups(
        make_app(url, cheap_hashing=True),
        args,
        f"cheapest hashing, {args.signups} a round",
        start,
        args.signups,
    )
    lines += real + cheap
    lines += [
        "",
        f"{args.rounds} × the count per variant, in alternating batches of 10 "
        "(every other signup referred: 2 events, 1 for the others); signups/s is "
        "1 / the median signup's time; cost = the throughput lost; the target is a "
        "cost ≤ 5%.",
        "",
        "| Concurrency | Delivered | Deliveries/s |",
        "| --- | --- | --- |",
    ]
    app = make_app(url, cheap_hashing=True)
    lines += [deliveries(app, args.events, n) for n in (1, 4)]
    lines += [
        "",
        f"{args.events:,} events, one endpoint, a receiver answering 200 from "
        "another process on 127.0.0.1; the dispatch job's body run until all went.",
    ]
    print("\n".join(lines))
    results.write_section(f"outbox-{kind}", lines)


if __name__ == "__main__":
    main()
