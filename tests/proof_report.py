"""Print the proof table from the figures the last `make proof` run recorded.

Usage: python -m tests.proof_report. Exits 1 when a figure that must be zero is not,
or when a database that ran recorded no figure for a row.
"""

import collections
import json
import sys

from tests.proof import FIGURES

#: (label, metric, must be zero)
ROWS = [
    ("Concurrent signups attempted (50 x runs)", "concurrent_signups_attempted", False),
    (
        "Concurrent signups held (user, referral, count shown)",
        "concurrent_signups_held",
        False,
    ),
    ("Concurrent signup runs passed", "concurrent_signup_runs_passed", False),
    ("Concurrent signup errors", "concurrent_signup_errors", True),
    ("Double-submitted signup forms", "double_submits", False),
    ("Duplicate accounts from double submits", "double_submit_duplicates", True),
    ("Hostile inputs tried", "hostile_inputs_tried", False),
    ("Hostile inputs answered 5xx", "hostile_inputs_5xx", True),
    ("Hostile form fields tried (every form)", "hostile_form_fields_tried", False),
    ("Hostile form fields answered 5xx", "hostile_form_fields_5xx", True),
    ("Session replays after logout tried", "session_replays_after_logout", False),
    ("Session replays after disabling tried", "session_replays_after_disabling", False),
    ("Session replays accepted", "session_replays_accepted", True),
    ("State-changing routes checked for CSRF", "state_changing_routes_checked", False),
    ("Routes without CSRF (or other auth)", "routes_without_csrf", True),
    ("Admin routes x methods checked", "admin_routes_checked", False),
    (
        "Admin routes reachable by the wrong user",
        "admin_routes_reachable_by_wrong_user",
        True,
    ),
    (
        "Object routes x methods checked with others' ids",
        "object_routes_checked",
        False,
    ),
    (
        "Object routes reachable by the wrong user",
        "object_routes_reachable_by_wrong_user",
        True,
    ),
    ("Faults injected (process killed mid-signup)", "faults_injected", False),
    ("Half-written rows after a kill", "half_written_rows", True),
    (
        "Faults injected (process killed mid-conversion)",
        "conversion_faults_injected",
        False,
    ),
    (
        "Half-written rows after a kill mid-conversion",
        "conversion_half_written_rows",
        True,
    ),
    ("One conversion posted at once (8 x runs)", "conversion_race_posts", False),
    ("Racing conversion runs passed", "conversion_race_rounds_passed", False),
    ("Racing conversions: duplicates", "conversion_race_duplicates", True),
    ("One Stripe event delivered at once (8 x runs)", "stripe_race_deliveries", False),
    ("Racing Stripe delivery runs passed", "stripe_race_rounds_passed", False),
    ("Racing Stripe deliveries: duplicates", "stripe_race_duplicates", True),
    ("Stripe events replayed after handling", "stripe_replays", False),
    ("Replayed Stripe events: duplicates", "stripe_replay_duplicates", True),
    ("Racing grants (4 qualifying conversions at once)", "grant_races", False),
    ("Racing grant runs passed", "grant_race_rounds_passed", False),
    ("Racing grants: duplicated or missing rewards", "grant_race_wrong_rewards", True),
    ("Admin decisions raced over HTTP", "admin_decision_races", False),
    ("Admin decision race runs passed", "admin_decision_rounds_passed", False),
    ("Admin decisions raced: double decisions", "admin_double_decisions", True),
    ("Overlapping process-rewards runs", "process_rewards_overlapping_runs", False),
    (
        "Overlapping process-rewards rounds passed",
        "process_rewards_rounds_passed",
        False,
    ),
    ("Overlapping process-rewards: duplicates", "process_rewards_duplicates", True),
    ("Reward state machine steps", "state_machine_steps", False),
    ("Reward state machine invariant checks", "state_machine_checks", False),
    (
        "Reward state machine failures (model, invariants)",
        "state_machine_invariant_failures",
        True,
    ),
    ("Outbox events written (webhook tests)", "outbox_events_written", False),
    ("Webhook deliveries made to the test receiver", "webhook_deliveries_made", False),
    ("Webhook workers killed mid-delivery", "webhook_worker_kills", False),
    ("Webhook deliveries lost", "webhook_deliveries_lost", True),
    ("Webhook duplicates with a new id", "webhook_duplicates_new_id", True),
    ("Migration round trips (up, down, up, no drift)", "migration_round_trips", False),
    (
        "Rows carried through a data migration, up and down",
        "migration_rows_carried",
        False,
    ),
]


#: The multi-host suite's figures (tests/test_cluster.py), in a column of their own:
#: two gunicorn hosts behind HAProxy on PostgreSQL and Redis, with faults.
CLUSTER_ROWS = [
    ("Requests through the proxy and to the hosts", "cluster_requests", False),
    ("Answered 500", "cluster_500s", True),
    ("Clicks answered", "cluster_clicks_answered", False),
    (
        "Clicks lost (all but a killed host's)",
        "cluster_clicks_lost",
        True,
    ),
    ("Host killed under load (SIGKILL)", "cluster_host_kills", False),
    (
        "Clicks lost with it (its last buffer interval)",
        "cluster_clicks_lost_with_the_killed_host",
        False,
    ),
    (
        "Clicks lost beyond the killed host's last buffer interval",
        "cluster_clicks_lost_beyond_bound",
        True,
    ),
    (
        "Clicks credited to a deleted account 1 s later",
        "cluster_clicks_credited_after_deletion",
        True,
    ),
    (
        "Referrals or rewards to deleted accounts",
        "cluster_rewards_to_deleted_accounts",
        True,
    ),
    ("Host drained and restarted (a deploy)", "cluster_drained_deploys", False),
    ("Redis stopped and started", "cluster_redis_restarts", False),
    ("Database connection cut", "cluster_database_cuts", False),
    ("Database frozen", "cluster_database_freezes", False),
    ("Workers killed by gunicorn's timeout", "cluster_workers_killed", True),
    (
        "Webhook deliveries by the hosts' job workers (shared Redis queue)",
        "cluster_webhook_deliveries",
        False,
    ),
    (
        "Webhook deliveries lost or duplicated",
        "cluster_webhook_lost_or_duplicated",
        True,
    ),
]


def load() -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = collections.Counter()
    for path in sorted(FIGURES.glob("figures-*.jsonl")):
        for line in path.read_text().splitlines():
            figure = json.loads(line)
            totals[(figure["metric"], figure["db"])] += figure["value"]
    return totals


def main() -> int:
    totals = load()
    databases = [
        db for db in ("sqlite", "postgresql") if any(k[1] == db for k in totals)
    ]
    if not databases:
        if any(db == "cluster" for _, db in totals):  # `make cluster` alone
            failures = _cluster_table(totals)
            print("\nNOT PROVEN:\n  " + "\n  ".join(failures) if failures else "")
            return 1 if failures else 0
        print("No figures recorded: run `make proof` first.")
        return 1
    width = max(len(label) for label, _, _ in ROWS)
    print(f"{'Proof figure':<{width}}  " + "  ".join(f"{db:>10}" for db in databases))
    print("-" * (width + 12 * len(databases)))
    failures = []
    for label, metric, must_be_zero in ROWS:
        cells = []
        for db in databases:
            value = totals.get((metric, db))
            cells.append(f"{'missing' if value is None else value:>10}")
            if value is None or (must_be_zero and value != 0):
                failures.append(f"{label} [{db}]: {value}")
        print(f"{label:<{width}}  " + "  ".join(cells))
    failures += _cluster_table(totals)
    if failures:
        print("\nNOT PROVEN:\n  " + "\n  ".join(failures))
        return 1
    print("\nEvery must-be-zero figure is 0 on " + " and ".join(databases) + ".")
    return 0


def _cluster_table(totals) -> list[str]:
    """Print the multi-host figures; a run without them says how to get them."""
    print()
    if not any(db == "cluster" for _, db in totals):
        print("Multi-host figures: not run (make cluster, or make proof on PostgreSQL)")
        return []
    width = max(len(label) for label, _, _ in CLUSTER_ROWS)
    print(f"{'Multi-host figure (2 hosts x 2 workers)':<{width}}  {'cluster':>10}")
    print("-" * (width + 12))
    failures = []
    for label, metric, must_be_zero in CLUSTER_ROWS:
        value = totals.get((metric, "cluster"))
        print(f"{label:<{width}}  {'missing' if value is None else value:>10}")
        if value is None or (must_be_zero and value != 0):
            failures.append(f"{label} [cluster]: {value}")
    return failures


if __name__ == "__main__":
    sys.exit(main())
