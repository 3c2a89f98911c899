"""`make bench`: the site against bare baselines, same gunicorn, same run.

Seeds a fresh database (SQLite under bench/.data, or a schema of
BENCH_DATABASE_URL), serves the baselines and the site side by side with the same
gunicorn settings, drives each site scenario in rounds with its baseline (one run
of each in turn), prints one table and writes it to bench/RESULTS.md. The
baselines: a bare Flask app (a 302 with a cookie, an argon2-only endpoint), a bare
Flask + Flask-SQLAlchemy app running one query, and the site with its referrals
plugin left out (bench/plain_host.py). Figures are measurements, never assertions.
"""

import argparse
import os
import time
from contextlib import ExitStack

from bench import database, load, results
from bench.load import Scenario
from bench.servers import gunicorn, log_problems, site_environment, worker_rss_mib
from bench.table import (
    BARE,
    HASH,
    HOME,
    LANDING,
    LINK,
    PLAIN,
    QUERY_BASELINE,
    Figures,
    Measured,
    capture_lines,
    memory_lines,
    table,
)
from referral_site.referrals.demo_data import DEMO_PASSWORD, demo_code

POPULAR = "user2@example.com"  # seed-demo's popular referrer (user id 2)
CLICK_TARGET = "≥ 0.8× req/s (p99 ≤ 3×, 0 errors)"
LANDING_TARGET = "≥ 0.6× req/s"
#: The servers, all up for the whole run, each logging to bench/.data/<name>.log.
SERVERS = {
    "bare": "bench.baseline:app",
    "query": "bench.baseline_db:app",
    "plain": "bench.plain_host:app",
    "site": "wsgi:app",
}


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


def measure(args, *jobs: tuple[str, Scenario]) -> list[Measured]:
    """Each (server, scenario) warmed up, then `runs` rounds running each in turn.

    Running a baseline and the site's scenarios in the same rounds gives them the
    same share of whatever else the machine is doing at the time; every other
    round runs them in reverse order, so neither always goes first.
    """
    connections = [_connections(scenario.name, args) for _, scenario in jobs]
    warm_ups = [
        load.run(base, scenario, seconds=2, connections=count)
        for (base, scenario), count in zip(jobs, connections, strict=True)
    ]
    runs: list[list[load.Result]] = [[] for _ in jobs]
    for round_ in range(args.runs):
        order = range(len(jobs)) if round_ % 2 == 0 else reversed(range(len(jobs)))
        for i in order:
            base, scenario = jobs[i]
            runs[i].append(
                load.run(
                    base, scenario, seconds=args.seconds, connections=connections[i]
                )
            )
            # Let the workers finish what the generator left queued, so a slow
            # page's backlog does not count against the next run.
            time.sleep(2)
    return list(zip(warm_ups, runs, strict=True))


def click_paths(count: int = 500) -> list[str]:
    # The popular referrer's code a tenth of the time, the others' the rest.
    codes = [demo_code(2)] * (count // 10) + [demo_code(i) for i in range(3, count)]
    return [f"/r/{code}" for code in codes]


def landing_paths(count: int = 500) -> list[str]:
    """The home page with a valid code, drawn like the clicks' codes."""
    return [path.replace("/r/", "/?ref=", 1) for path in click_paths(count)]


def user_paths(users: int, count: int = 500) -> list[str]:
    """One user by id, spread over the seeded ones."""
    return [f"/users/{i}" for i in range(1, users + 1, max(1, users // count))]


def _form() -> dict:
    return {"Content-Type": "application/x-www-form-urlencoded"}


def signup_scenario(site: str) -> Scenario:
    """New accounts with a referral code, each with its own email."""
    visitor = load.Client(site)
    token = visitor.csrf_token("/signup")
    body = (
        "name=Bench&email=bench-{n}%40example.com&password=correct+horse+battery"
        f"&referral_code={demo_code(3)}&csrf_token={token}"
    )
    headers = _form() | {"Cookie": visitor.cookie_header()}
    return Scenario("signup", ["/signup"], "POST", headers, body)


def report_scenarios(site: str) -> list[tuple[str, Scenario]]:
    """The signed-in report pages (not targets), labelled."""
    admin = load.Client(site).login("admin@example.com", DEMO_PASSWORD)
    popular = load.Client(site).login(POPULAR, DEMO_PASSWORD)
    as_admin = {"Cookie": admin.cookie_header()}
    csv = "/admin/export/referrals.csv?range=30d"
    return [
        (
            "/referrals (100k referrals)",
            Scenario(
                "referrals", ["/referrals"], headers={"Cookie": popular.cookie_header()}
            ),
        ),
        ("/admin?range=all", Scenario("admin", ["/admin?range=all"], headers=as_admin)),
        ("referrals.csv?range=30d", Scenario("export", [csv], headers=as_admin)),
    ]


def visits_during(url: str, measuring):
    """What `measuring()` returns, and the visits recorded meanwhile."""
    before = database.count_visits(url)
    measured = measuring()
    return measured, database.count_visits(url) - before


def run_scenarios(args, servers: dict[str, tuple[str, int]], url: str) -> Figures:
    """Every comparison, each site scenario beside its baseline in the same rounds."""
    urls = {name: base for name, (base, _) in servers.items()}
    figures = Figures(
        site_html=load.fetch(urls["site"], "/")[2],
        plain_html=load.fetch(urls["plain"], "/")[2],
        landing_cookies=load.fetch(urls["site"], landing_paths()[-1])[1],
    )
    links(args, urls, url, figures)
    figures.rss["bare, before hashing"] = worker_rss_mib(servers["bare"][1])
    (one_query,) = measure(
        args, (urls["query"], Scenario("query", user_paths(args.users)))
    )
    figures.add_baseline(QUERY_BASELINE, one_query)
    home_page(args, urls, url, figures)
    figures.rss["site, before hashing"] = worker_rss_mib(servers["site"][1])
    signups_and_reports(args, urls, figures)
    for name, (_, pid) in servers.items():
        figures.rss[name] = worker_rss_mib(pid)
    return figures


def links(args, urls: dict[str, str], url: str, figures: Figures) -> None:
    """Clicks on referral links beside the bare 302, and the visits they record."""
    clicks = Scenario("click", click_paths())
    (redirect, click), recorded = visits_during(
        url, lambda: measure(args, (urls["bare"], clicks), (urls["site"], clicks))
    )
    figures.add_baseline(BARE, redirect)
    figures.add(LINK, click, BARE, CLICK_TARGET, recorded)


def home_page(args, urls: dict[str, str], url: str, figures: Figures) -> None:
    """The home page: without the plugin, on the site without ?ref and with it."""
    landings = Scenario("landing", landing_paths())
    home = Scenario("home", ["/"])
    (without, no_ref, captured), recorded = visits_during(
        url,
        lambda: measure(
            args,
            (urls["plain"], landings),
            (urls["site"], home),
            (urls["site"], landings),
        ),
    )
    figures.add_baseline(PLAIN, without)
    figures.add(HOME, no_ref, PLAIN)
    figures.add(LANDING, captured, PLAIN, LANDING_TARGET, recorded)


def signups_and_reports(args, urls: dict[str, str], figures: Figures) -> None:
    """Signups beside the bare hash; the report pages alone (not targets)."""
    hashes = Scenario("hash", ["/hash"], "POST", _form(), "x=1")
    signups = signup_scenario(urls["site"])
    hashing, signup = measure(args, (urls["bare"], hashes), (urls["site"], signups))
    figures.add_baseline(HASH, hashing)
    figures.add("POST /signup", signup, HASH, "≥ 0.8× req/s")
    for label, scenario in report_scenarios(urls["site"]):
        (measured,) = measure(args, (urls["site"], scenario))
        figures.add(label, measured, BARE, together=False)


def _connections(scenario: str, args) -> int:
    # Report pages take far longer than a click: as many clients as workers.
    heavy = scenario in {"referrals", "admin", "export"}
    return args.workers if heavy else args.connections


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
    env = site_environment(url)
    logs = {name: database.DATA / f"{name}.log" for name in SERVERS}
    for log in logs.values():
        log.unlink(missing_ok=True)
    with ExitStack() as stack:
        servers = {
            name: stack.enter_context(
                gunicorn(app, workers=args.workers, log=logs[name], env=env)
            )
            for name, app in SERVERS.items()
        }
        figures = run_scenarios(args, servers, url)
    lines = [
        f"## Load: {kind}, {args.workers} gunicorn workers",
        "",
        *results.header(database.server_version(url)),
        f"- Data: {args.users} users, {args.referrals} referrals (one referrer with "
        f"{args.top_referrals}), {args.clicks} clicks, {args.conversions} conversions",
        f"- Load: {args.connections} connections, {args.runs} runs of {args.seconds:g}"
        " s per scenario after a 2 s warm-up (the report pages: as many connections "
        "as workers), a browser's user agent and no cookie kept (every request a new "
        "visitor) unless signed in. All four servers are up for the whole run; each "
        "site scenario ran in the same rounds as its baseline, one run of each in "
        "turn (the report pages alone), and its ratio is median over median, with "
        "the range of the rounds' own ratios (clicks and report pages: the bare "
        "302; the home page: the site without the plugin, same URLs; signup: the "
        "hash)",
        "",
        *table(figures),
        "",
        *memory_lines(figures),
        *capture_lines(figures),
        f"- Tracebacks, `database is locked` or [ERROR] lines in the site's log: "
        f"{log_problems(logs['site'])}",
    ]
    print("\n".join(lines))
    results.write_section(f"load-{kind}", lines)


if __name__ == "__main__":
    main()
