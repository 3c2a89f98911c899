"""`make bench-scale`: /admin at a small and a large volume, same machine, same run.

Seeds two fresh databases (by default 10k referrals / 100k clicks and 1M
referrals / 10M clicks), ranks their leaderboards once (`referrals
refresh-leaderboards`, cron's job in production), serves each with one gunicorn
worker and times sequential requests to the admin report, the console's search
of people (by email, name, code and id) and the popular referrer's page. Writes
the figures to bench/RESULTS.md. The large seed takes several minutes.
"""

import argparse
import os
import statistics
import time

from bench import database, load, results
from bench.servers import gunicorn, site_environment
from referral_site.referrals.demo_data import DEMO_PASSWORD, demo_code

#: A seeded user both volumes have (seed-demo numbers its users from 1).
SOUGHT = 5_000
PAGES = [
    "/admin",
    "/admin?range=all",
    "/referrals",
    # The console's directory: an email, the start of a name, a code, an id.
    f"/admin/referrers?q=user{SOUGHT}%40example.com",
    f"/admin/referrers?q=demo+user+{SOUGHT}",
    f"/admin/referrers?q={demo_code(SOUGHT)}",
    f"/admin/referrers?q={SOUGHT}",
]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=10_000, help="referrals")
    parser.add_argument("--large", type=int, default=1_000_000, help="referrals")
    parser.add_argument("--clicks-per-referral", type=int, default=10)
    parser.add_argument("--requests", type=int, default=7)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL") or None
    )
    return parser.parse_args()


def seed(name: str, referrals: int, args) -> tuple[str, float, float]:
    """A seeded, ranked database: its URL, the seconds to seed and to rank it."""
    url = database.fresh_database(name, args.database_url)
    started = time.monotonic()
    database.seed(
        url,
        users=referrals + referrals // 10 + 2,
        referrals=referrals,
        top_referrals=referrals // 10,
        clicks=referrals * args.clicks_per_referral,
        conversions=referrals // 5,
    )
    seeded = time.monotonic()
    database.flask("referrals", "refresh-leaderboards", url=url)
    return url, seeded - started, time.monotonic() - seeded


def timings(url: str, args) -> dict[str, float]:
    """Median milliseconds per page, one request at a time after a warm-up."""
    log = database.DATA / "scale.log"
    env = site_environment(url)
    with gunicorn("wsgi:app", workers=1, log=log, env=env) as (base, _pid):
        admin = load.Client(base).login("admin@example.com", DEMO_PASSWORD)
        popular = load.Client(base).login("user2@example.com", DEMO_PASSWORD)
        figures = {}
        for page in PAGES:
            client = popular if page == "/referrals" else admin
            client.get(page)
            samples = []
            for _ in range(args.requests):
                started = time.perf_counter()
                client.get(page)
                samples.append((time.perf_counter() - started) * 1000)
            figures[page] = statistics.median(samples)
    return figures


def main() -> None:
    args = arguments()
    kind = "postgresql" if args.database_url else "sqlite"
    measured = {}
    for name, referrals in (("scale_small", args.small), ("scale_large", args.large)):
        url, seconds, ranking = seed(name, referrals, args)
        measured[referrals] = (seconds, ranking, timings(url, args))
        version = database.server_version(url)
    small, large = measured[args.small][2], measured[args.large][2]
    lines = [
        f"## Scale: {kind}, one gunicorn worker, one request at a time",
        "",
        *results.header(version),
        f"- Seeds: {args.clicks_per_referral} clicks per referral, a fifth "
        "converted, the popular referrer holding a tenth; seed-demo took "
        + ", ".join(
            f"{s:.0f} s for {r} referrals" for r, (s, _, _) in measured.items()
        ),
        "- refresh-leaderboards (the periodic ranking of the 7/30/90-day "
        "leaderboards, run once after each seed) took "
        + ", ".join(
            f"{s:.1f} s for {r} referrals" for r, (_, s, _) in measured.items()
        ),
        "",
        f"| Page | {args.small} referrals (ms) | {args.large} referrals (ms) "
        "| ratio (target ≤ 3×) |",
        "| --- | --- | --- | --- |",
        *(
            f"| {page} | {small[page]:.1f} | {large[page]:.1f} "
            f"| {large[page] / small[page]:.1f}× |"
            for page in PAGES
        ),
    ]
    print("\n".join(lines))
    results.write_section(f"scale-{kind}", lines)


if __name__ == "__main__":
    main()
