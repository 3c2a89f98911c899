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
    if failures:
        print("\nNOT PROVEN:\n  " + "\n  ".join(failures))
        return 1
    print("\nEvery must-be-zero figure is 0 on " + " and ".join(databases) + ".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
