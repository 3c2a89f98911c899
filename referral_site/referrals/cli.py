"""The plugin's commands, under `flask --app wsgi referrals ...`."""

import click
from flask import current_app
from flask.cli import AppGroup

#: Registered by Referrals.init_app; commands attach with @referrals_cli.command.
referrals_cli = AppGroup("referrals", help="Referral program maintenance commands.")


@referrals_cli.command("purge-visits")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Retention in days (default: REFERRALS_VISIT_RETENTION_DAYS).",
)
def purge_visits_command(days: int | None) -> None:
    """Delete visits older than the retention period, keeping daily click counts."""
    from referral_site.referrals.retention import purge_visits

    days = days or current_app.config["REFERRALS_VISIT_RETENTION_DAYS"]
    result = purge_visits(days)
    click.echo(
        f"Purged {result.visits} visits older than {days} days "
        f"(click counts kept), {result.sightings} sightings, and the signup "
        f"evidence of {result.referrals_scrubbed} referrals."
    )


@referrals_cli.command("process-rewards")
@click.option(
    "--batch-size", default=200, show_default=True, help="Rewards per transaction."
)
def process_rewards_command(batch_size: int) -> None:
    """Approve held rewards whose hold is over (or queue them for review).

    Safe from cron every minute and safe to run twice at once.
    """
    from referral_site.referrals.rewards import process_rewards

    result = process_rewards(batch_size=batch_size)
    click.echo(
        f"approved {result.approved}, sent to review {result.to_review}, "
        f"rejected {result.rejected}"
    )
