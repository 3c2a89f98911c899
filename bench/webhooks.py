"""`make bench`, Stripe part: signed webhook events beside POST /api/conversions.

Seeds a small program, serves the site with gunicorn, and drives two scenarios in
the same rounds, one run of each in turn: new conversions posted to
/api/conversions with the bearer key, and new `checkout.session.completed` events
posted to /api/billing/stripe, each signed as Stripe signs it (HMAC-SHA256 of
"t.body"). Both pay a referred user, so both record a conversion and grant its
rewards; the webhook also verifies the signature and stores the event once.
Every request is new (unique ids). Both use the same Python load generator, which
signs or numbers each body as it sends it. Figures are measurements, never
assertions.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import random
import statistics
import threading
import time
import urllib.parse

import sqlalchemy as sa

from bench import database, load, results
from bench.servers import gunicorn, log_problems, site_environment

API_KEY = "bench-api-key-0123456789abcdef"
SECRET = "whsec_bench_0123456789abcdef"
TARGET = 0.8


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL") or None
    )
    return parser.parse_args()


def conversion_body(user_id: int, n: str) -> tuple[dict, bytes]:
    body = {
        "user_id": user_id,
        "kind": "purchase",
        "amount": 4999,
        "currency": "USD",
        "external_id": f"bench-{n}",
    }
    headers = {"Authorization": f"Bearer {API_KEY}"}
    return headers, json.dumps(body).encode()


def webhook_body(user_id: int, n: str) -> tuple[dict, bytes]:
    event = {
        "id": f"evt_bench_{n}",
        "object": "event",
        "type": "checkout.session.completed",
        "livemode": False,
        "created": int(time.time()),
        "data": {
            "object": {
                "id": f"cs_bench_{n}",
                "object": "checkout.session",
                "mode": "payment",
                "payment_status": "paid",
                "status": "complete",
                "amount_total": 4999,
                "currency": "usd",
                "client_reference_id": str(user_id),
                "customer": f"cus_bench_{user_id}",
                "payment_intent": f"pi_bench_{n}",
                "metadata": {},
            }
        },
    }
    raw = json.dumps(event).encode()
    stamp = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{stamp}.".encode() + raw, hashlib.sha256)
    return {"Stripe-Signature": f"t={stamp},v1={digest.hexdigest()}"}, raw


def drive(base, path, make_body, users, seconds, connections) -> load.Result:
    """POST new bodies from `connections` keep-alive clients for `seconds`."""
    host = urllib.parse.urlsplit(base)
    latencies, errors, lock = [], [0], threading.Lock()
    counter = iter(range(10**12))
    nonce = f"{random.getrandbits(32):08x}"
    deadline = time.monotonic() + seconds

    def worker():
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        mine, failed = [], 0
        while time.monotonic() < deadline:
            extra, raw = make_body(random.choice(users), f"{nonce}{next(counter)}")
            headers = {"Content-Type": "application/json"} | extra
            started = time.perf_counter()
            try:
                conn.request("POST", path, body=raw, headers=headers)
                response = conn.getresponse()
                response.read()
                failed += response.status >= 300
            except OSError:
                conn.close()
                failed += 1
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    return load.Result(
        len(latencies), elapsed, cuts[49] * 1000, cuts[98] * 1000, errors[0]
    )


def referred_users(url: str) -> list[int]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        found = connection.scalars(sa.text("SELECT referred_id FROM referrals"))
        users = list(found)
    engine.dispose()
    return users


def main() -> None:
    args = arguments()
    kind = "postgresql" if args.database_url else "sqlite"
    url = database.fresh_database("bench_webhooks", args.database_url)
    database.seed(url, users=args.users, referrals=args.users * 9 // 10, clicks=0)
    users = referred_users(url)
    env = site_environment(url) | {
        "REFERRALS_API_KEY": API_KEY,
        "REFERRALS_STRIPE_WEBHOOK_SECRET": SECRET,
        "REFERRALS_RATELIMIT_API": "100000000 per minute",
        "REFERRALS_VELOCITY_MAX_PER_REFERRER": "100000000",
    }
    log = database.DATA / "webhooks.log"
    log.unlink(missing_ok=True)
    jobs = {
        "POST /api/conversions": ("/api/conversions", conversion_body),
        "POST /api/billing/stripe (signed)": ("/api/billing/stripe", webhook_body),
    }
    runs: dict[str, list[load.Result]] = {name: [] for name in jobs}
    with gunicorn("wsgi:app", workers=args.workers, log=log, env=env) as (base, _):
        for path, make in jobs.values():  # warm-up
            drive(base, path, make, users, 2, args.connections)
        for round_ in range(args.runs):
            names = list(jobs) if round_ % 2 == 0 else list(reversed(jobs))
            for name in names:
                path, make = jobs[name]
                runs[name].append(
                    drive(base, path, make, users, args.seconds, args.connections)
                )
                time.sleep(2)
    lines = report(args, kind, url, runs, log)
    print("\n".join(lines))
    results.write_section(f"webhooks-{kind}", lines)


def report(args, kind, url, runs, log) -> list[str]:
    api, hook = (runs[name] for name in runs)
    rps = {
        name: statistics.median(r.rps for r in found) for name, found in runs.items()
    }
    ratio = rps["POST /api/billing/stripe (signed)"] / rps["POST /api/conversions"]
    rounds = [h.rps / a.rps for a, h in zip(api, hook, strict=True) if a.rps]
    lines = [
        f"## Stripe webhooks: {kind}, {args.workers} gunicorn workers",
        "",
        *results.header(database.server_version(url)),
        f"- Load: {args.connections} connections, {args.runs} runs of "
        f"{args.seconds:g} s per scenario after a 2 s warm-up, the two in the same "
        "rounds; every request a new conversion of a referred user (granting its "
        "rewards); generator: Python threads, signing each event as it sends it",
        "",
        "| Scenario | req/s (median) | p50 ms | p99 ms | errors |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, found in runs.items():
        p50 = statistics.median(r.p50_ms for r in found)
        p99 = statistics.median(r.p99_ms for r in found)
        errors = sum(r.errors for r in found)
        lines.append(f"| {name} | {rps[name]:.0f} | {p50:.1f} | {p99:.1f} | {errors} |")
    met = "met" if ratio >= TARGET else "not met"
    lines += [
        "",
        f"- Webhook / API: {ratio:.2f}× (rounds {min(rounds):.2f}–{max(rounds):.2f}); "
        f"target ≥ {TARGET}×: {met}",
        f"- Tracebacks, `database is locked` or [ERROR] lines in the log: "
        f"{log_problems(log)}",
    ]
    return lines


if __name__ == "__main__":
    main()
