"""Site commands: `flask --app wsgi create-admin EMAIL --password PASSWORD`,
`disable-user EMAIL` and `enable-user EMAIL`."""

import click
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app
from flask.cli import with_appcontext

from referral_site import referrals as services
from referral_site.auth.services import UnknownAccount, set_disabled
from referral_site.extensions import db
from referral_site.models import User
from referral_site.referrals import write_transaction


@click.command("create-admin")
@with_appcontext
@click.argument("email")
@click.option("--password", required=True, help="Password for a new admin account.")
@click.option(
    "--name", default=None, help="Display name (defaults to the email's name)."
)
def create_admin(email: str, password: str, name: str | None) -> None:
    """Create an admin account, or promote the existing account with this email."""
    try:
        normalized = services.normalize_email(
            validate_email(email, check_deliverability=False).normalized
        )
    except EmailNotValidError as error:
        raise click.BadParameter(str(error), param_hint="EMAIL") from None
    existing = db.session.scalar(sa.select(User.id).where(User.email == normalized))
    if existing is None:
        minimum = current_app.config["REFERRALS_PASSWORD_MIN_LENGTH"]
        if len(password) < minimum:
            raise click.BadParameter(
                f"use at least {minimum} characters", param_hint="--password"
            )
        try:
            services.sign_up(
                name=name or normalized.split("@")[0],
                email=normalized,
                password=password,
                capture=None,
            )
        except services.EmailTaken:
            pass  # created by someone else meanwhile: promote it below
    with write_transaction():
        user = db.session.scalar(sa.select(User).where(User.email == normalized))
        user.is_admin = True
    click.echo(f"{normalized} is an admin.")


@click.command("disable-user")
@with_appcontext
@click.argument("email")
def disable_user(email: str) -> None:
    """Stop an account from signing in and end all its sessions now."""
    _set_disabled(email, True)
    click.echo(f"{email} is disabled; its sessions have ended.")


@click.command("enable-user")
@with_appcontext
@click.argument("email")
def enable_user(email: str) -> None:
    """Let a disabled account sign in again."""
    _set_disabled(email, False)
    click.echo(f"{email} can sign in again.")


def _set_disabled(email: str, disabled: bool) -> None:
    try:
        set_disabled(email, disabled)
    except UnknownAccount as error:
        raise click.BadParameter(str(error), param_hint="EMAIL") from None


def register(app: Flask) -> None:
    """Add the site's commands to `flask`."""
    for command in (create_admin, disable_user, enable_user):
        app.cli.add_command(command)
