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
