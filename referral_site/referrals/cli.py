"""The plugin's commands, under `flask --app wsgi referrals ...`."""

import click
from flask.cli import AppGroup

#: Registered by Referrals.init_app; commands attach with @referrals_cli.command.
referrals_cli = AppGroup("referrals", help="Referral program maintenance commands.")


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
