"""`make bench`: the site against a bare Flask baseline, same gunicorn, same run.

Seeds a fresh database (SQLite under bench/.data, or a schema of
BENCH_DATABASE_URL), serves the site and the baseline in turn with the same
gunicorn settings, drives each scenario several times, prints one table and writes
it to bench/RESULTS.md. Figures are measurements, never assertions.
"""

import argparse
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from bench import database, load, results
from bench.load import Scenario
from bench.servers import gunicorn, log_problems, site_environment, worker_rss_mib
from referral_site.referrals.demo_data import DEMO_PASSWORD, demo_code

POPULAR = "user2@example.com"  # seed-demo's popular referrer (user id 2)


@dataclass
class Row:
    """One scenario's repeated runs, and what it is compared with."""

    name: str
    measured: tuple[load.Result, list[load.Result]]
    baseline: "Row | None" = None
    target: str = ""

    @property
    def runs(self) -> list[load.Result]:
        return self.measured[1]

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs)

    @property
    def p50(self) -> float:
        return statistics.median(r.p50_ms for r in self.runs)

    @property
    def p99(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    @property
    def requests(self) -> int:
        """Every answered request, the warm-up's included."""
        warm_up, runs = self.measured
        return warm_up.requests + sum(r.requests for r in runs)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=120_000)
    parser.add_argument("--referrals", type=int, default=110_000)
    parser.add_argument("--top-referrals", type=int, default=100_000)
    parser.add_argument("--clicks", type=int, default=500_000)
    parser.add_argument("--conversions", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL") or None
    )
    return parser.parse_args()


def measure(base: str, scenario: Scenario, args, connections: int | None = None):
    """A warm-up (fills the per-worker caches), then `runs` measured runs."""
    connections = connections or args.connections
    warm_up = load.run(base, scenario, seconds=2, connections=connections)
    runs = []
    for _ in range(args.runs):
        runs.append(
            load.run(base, scenario, seconds=args.seconds, connections=connections)
        )
        # Let the workers finish what the generator left queued, so a slow page's
        # backlog does not count against the next run.
        time.sleep(2)
    return warm_up, runs


def click_paths(count: int = 500) -> list[str]:
    # The popular referrer's code a tenth of the time, the others' the rest.
    codes = [demo_code(2)] * (count // 10) + [demo_code(i) for i in range(3, count)]
    return [f"/r/{code}" for code in codes]


def baseline_rows(args, env: dict, log: Path) -> tuple[Row, Row, float]:
    with gunicorn("bench.baseline:app", workers=args.workers, log=log, env=env) as (
        base,
        pid,
    ):
        redirect = Row("bare Flask 302 + cookie", measure(base, _clicks(), args))
        hashing = Row(
            "argon2 hash only",
            measure(base, Scenario("hash", ["/hash"], "POST", _form(), "x=1"), args),
        )
        rss = worker_rss_mib(pid)
    return redirect, hashing, rss


def _clicks() -> Scenario:
    return Scenario("click", click_paths())


def _form() -> dict:
    return {"Content-Type": "application/x-www-form-urlencoded"}


def site_rows(args, env: dict, log: Path, redirect: Row, hashing: Row):
    with gunicorn("wsgi:app", workers=args.workers, log=log, env=env) as (base, pid):
        admin = load.Client(base).login("admin@example.com", DEMO_PASSWORD)
        popular = load.Client(base).login(POPULAR, DEMO_PASSWORD)
        visitor = load.Client(base)
        token = visitor.csrf_token("/signup")
        signup_body = (
            "name=Bench&email=bench-{n}%40example.com&password=correct+horse+battery"
            f"&referral_code={demo_code(3)}&csrf_token={token}"
        )
        as_admin = {"Cookie": admin.cookie_header()}
        click_target = "≥ 0.6× req/s, p99 ≤ 3×, 0 errors"
        scenarios = [
            (Scenario("click", click_paths()), redirect, click_target),
            (
                Scenario("query", [f"/?ref={demo_code(i)}" for i in range(2, 500)]),
                redirect,
                "",
            ),
            (
                Scenario(
                    "signup",
                    ["/signup"],
                    "POST",
                    _form() | {"Cookie": visitor.cookie_header()},
                    signup_body,
                ),
                hashing,
                "≥ 0.8× req/s",
            ),
            (
                Scenario(
                    "referrals",
                    ["/referrals"],
                    headers={"Cookie": popular.cookie_header()},
                ),
                redirect,
                "",
            ),
            (Scenario("admin", ["/admin?range=all"], headers=as_admin), redirect, ""),
            (
                Scenario(
                    "export",
                    ["/admin/export/referrals.csv?range=30d"],
                    headers=as_admin,
                ),
                redirect,
                "",
            ),
        ]
        labels = {
            "click": "GET /r/<code>",
            "query": "GET /?ref=<code>",
            "signup": "POST /signup",
            "referrals": "/referrals (100k referrals)",
            "admin": "/admin?range=all",
            "export": "referrals.csv?range=30d",
        }
        rows = [
            Row(
                labels[s.name],
                measure(base, s, args, _connections(s.name, args)),
                baseline,
                target,
            )
            for s, baseline, target in scenarios
        ]
        rss = worker_rss_mib(pid)
    return rows, rss


def _connections(scenario: str, args) -> int:
    # Report pages take far longer than a click: as many clients as workers.
    heavy = scenario in {"referrals", "admin", "export"}
    return args.workers if heavy else args.connections


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}×" if base else "–"


def table(rows: list[Row], baselines: list[Row]) -> list[str]:
    lines = [
        "| Scenario | req/s median (min–max) | × base | p50 ms | × base "
        "| p99 ms | × base | errors | target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in baselines + rows:
        base = row.baseline
        spread = (
            f"{min(r.rps for r in row.runs):.0f}–{max(r.rps for r in row.runs):.0f}"
        )
        lines.append(
            f"| {row.name} | {row.rps:.0f} ({spread}) "
            f"| {ratio(row.rps, base.rps) if base else 'baseline'} "
            f"| {row.p50:.1f} | {ratio(row.p50, base.p50) if base else ''} "
            f"| {row.p99:.1f} | {ratio(row.p99, base.p99) if base else ''} "
            f"| {row.errors} | {row.target} |"
        )
    return lines


def main() -> None:
    args = arguments()
    kind = "postgresql" if args.database_url else "sqlite"
    url = database.fresh_database("bench", args.database_url)
    print(f"Seeding {kind}: {args.users} users, {args.referrals} referrals ...")
    database.seed(
        url,
        users=args.users,
        referrals=args.referrals,
        top_referrals=args.top_referrals,
        clicks=args.clicks,
        conversions=args.conversions,
    )
    seeded_visits = database.count_visits(url)
    env = site_environment(url)
    logs = database.DATA
    for name in ("baseline.log", "site.log"):
        (logs / name).unlink(missing_ok=True)
    redirect, hashing, base_rss = baseline_rows(args, env, logs / "baseline.log")
    rows, site_rss = site_rows(args, env, logs / "site.log", redirect, hashing)
    answered = sum(row.requests for row in rows if row.name.startswith("GET"))
    recorded = database.count_visits(url) - seeded_visits
    problems = log_problems(logs / "site.log")
    lines = [
        f"## Load: {kind}, {args.workers} gunicorn workers",
        "",
        *results.header(database.server_version(url)),
        f"- Data: {args.users} users, {args.referrals} referrals (one referrer with "
        f"{args.top_referrals}), {args.clicks} clicks, {args.conversions} conversions",
        f"- Load: {args.connections} connections, {args.runs} runs of {args.seconds:g}"
        " s per scenario after a 2 s warm-up (the report pages: as many connections "
        "as workers); each site figure as a ratio to the "
        "baseline of the same run (clicks and pages: the bare 302; signup: the hash)",
        "",
        *table(rows, [redirect, hashing]),
        "",
        f"- Worker RSS after the load: site {site_rss:.1f} MiB, bare Flask "
        f"{base_rss:.1f} MiB ({ratio(site_rss, base_rss)}; target ≤ 1.5×)",
        f"- Clicks: {answered} answered by the load generator, {recorded} visits "
        "recorded (more than answered by at most the requests in flight at the end "
        "of each run)",
        f"- Tracebacks, `database is locked` or [ERROR] lines in the site's log: "
        f"{problems}",
    ]
    print("\n".join(lines))
    results.write_section(f"load-{kind}", lines)


if __name__ == "__main__":
    main()
