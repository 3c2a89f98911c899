"""The plugin's commands, under `flask --app wsgi referrals ...`."""

import sys

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
    from referral_site.referrals.reports.retention import purge_visits

    days = days or current_app.config["REFERRALS_VISIT_RETENTION_DAYS"]
    result = purge_visits(days)
    click.echo(
        f"Purged {result.visits} visits older than {days} days "
        f"(click counts kept), {result.sightings} sightings, and the signup "
        f"evidence of {result.referrals_scrubbed} referrals."
    )


@referrals_cli.command("backfill")
@click.option(
    "--batch-size", default=500, show_default=True, help="Accounts per transaction."
)
def backfill_command(batch_size: int) -> None:
    """Give every existing user of the host a referral account and code.

    Users get one anyway when the plugin first needs it; run this once after
    adding the plugin so that reports count everyone. Safe to run again.
    """
    from referral_site.referrals.attribution import accounts

    user_model = current_app.extensions["referrals"].user_model
    total = accounts.count_without_account(user_model)
    made = 0
    with click.progressbar(length=total, label="Creating referral accounts") as bar:
        while step := accounts.backfill_batch(user_model, batch_size):
            made += step
            bar.update(step)
    click.echo(f"Created {made} referral accounts.")


@referrals_cli.command("process-rewards")
@click.option(
    "--batch-size", default=200, show_default=True, help="Rewards per transaction."
)
def process_rewards_command(batch_size: int) -> None:
    """Approve held rewards whose hold is over (or queue them for review).

    Safe from cron every minute and safe to run twice at once.
    """
    from referral_site.referrals.rewards.engine import process_rewards

    result = process_rewards(batch_size=batch_size)
    click.echo(
        f"approved {result.approved}, sent to review {result.to_review}, "
        f"rejected {result.rejected}"
    )


@referrals_cli.command("refresh-leaderboards")
def refresh_leaderboards_command() -> None:
    """Rank the referrers of the 7, 30 and 90-day reports (the admin report reads
    these ranks, as of this run). Run it from cron, every 15 minutes say."""
    from referral_site.referrals.reports.rankings import refresh_all

    for refreshed in refresh_all():
        click.echo(
            f"{refreshed.range_key}: ranked {refreshed.referrers} referrers as of "
            f"{refreshed.taken_at:%Y-%m-%d %H:%M:%S} UTC."
        )


@referrals_cli.command("purge-outbox")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Retention in days (default: REFERRALS_OUTBOX_RETENTION_DAYS).",
)
def purge_outbox_command(days: int | None) -> None:
    """Delete old events every consumer and webhook is done with, and their log."""
    from referral_site.referrals.outbox.retention import purge_events

    days = days or current_app.config["REFERRALS_OUTBOX_RETENTION_DAYS"]
    click.echo(f"Purged {purge_events(days)} events older than {days} days.")


@referrals_cli.command("purge-payout-changes")
def purge_payout_changes_command() -> None:
    """Delete payout-details changes whose confirmation link has expired."""
    from referral_site.referrals.payouts.confirmation import purge_lapsed

    click.echo(f"Purged {purge_lapsed()} lapsed payout-details changes.")


@referrals_cli.command("dispatch")
def dispatch_command() -> None:
    """Hand new outbox events to their consumers and send the webhooks that are due
    (what the worker's dispatch job does; for cron when no worker runs)."""
    from referral_site.referrals.outbox.dispatch import dispatch
    from referral_site.referrals.webhooks.delivery import deliver_due

    handed = dispatch()
    sent = deliver_due()
    click.echo(
        f"handed out {handed.fanned_out} events; consumers done {handed.done}, "
        f"failed {handed.failed}; webhooks delivered {sent.delivered}, "
        f"failed {sent.failed}"
    )


@referrals_cli.command("worker")
@click.option(
    "--workers", default=2, show_default=True, help="Threads running jobs at once."
)
@click.option(
    "--periodic/--no-periodic",
    default=True,
    show_default=True,
    help="Also schedule the periodic jobs (one host among several is enough).",
)
def worker_command(workers: int, periodic: bool) -> None:
    """Run the background jobs: outbox dispatch, webhooks, the periodic commands.

    Runs until stopped (SIGINT or SIGTERM finish the jobs in progress first).
    """
    from referral_site.referrals.jobs.worker import run

    run(current_app._get_current_object(), workers=workers, periodic=periodic)


@referrals_cli.command("seed-demo")
@click.option("--users", type=click.IntRange(min=2), default=1_000, show_default=True)
@click.option("--referrals", type=click.IntRange(min=0), default=800, show_default=True)
@click.option("--clicks", type=click.IntRange(min=0), default=5_000, show_default=True)
@click.option(
    "--conversions",
    type=click.IntRange(min=0),
    default=None,
    help="Referrals that convert [default: a fifth of --referrals].",
)
@click.option(
    "--top-referrals",
    type=click.IntRange(min=0),
    default=None,
    help="Referrals (and the same share of clicks) of the most popular referrer "
    "[default: a tenth of --referrals].",
)
@click.option("--days", type=click.IntRange(min=1), default=180, show_default=True)
@click.option(
    "--batch", type=click.IntRange(min=100), default=10_000, show_default=True
)
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@click.option("--add", is_flag=True, help="Add to a database that already has users.")
def seed_demo_command(
    add: bool, top_referrals: int | None, conversions: int | None, **counts
) -> None:
    """Fill the database with demo data at volume (password: correct horse battery)."""
    from referral_site.referrals import demo_data

    if not add and not demo_data.database_is_empty():
        raise click.UsageError(
            "The database already has users; pass --add to add demo data to it."
        )
    if top_referrals is None:
        top_referrals = counts["referrals"] // 10
    if conversions is None:
        conversions = counts["referrals"] // 5
    plan = demo_data.SeedPlan(
        top_referrals=top_referrals, conversions=conversions, **counts
    )
    try:
        plan.check()
    except demo_data.SeedRefused as error:
        raise click.UsageError(str(error)) from None
    progress = click.progressbar(
        length=demo_data.total_rows(plan),
        label="Seeding",
        file=sys.stderr,
    )
    with progress as bar:
        demo_data.seed(plan, bar.update)
    click.echo(
        f"Seeded {plan.users} users, {plan.referrals} referrals, "
        f"{plan.conversions} conversions and {plan.clicks} clicks."
    )


@referrals_cli.command("email-digest")
def email_digest_command() -> None:
    """Email today's digest (rewards awaiting review, new fraud flags) to admins."""
    from referral_site.referrals.emails.digest import send_admin_digest
    from referral_site.referrals.emails.sending import mail_enabled

    if not mail_enabled():
        click.echo("Email is off (MAIL_SERVER is not set): no digest sent.")
        return
    click.echo(f"Sent the digest to {send_admin_digest()} admins.")
