"""Site commands: `flask --app wsgi create-admin EMAIL --password PASSWORD`."""

import click
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app
from flask.cli import with_appcontext

from referral_site.extensions import db
from referral_site.models import User
from referral_site.referrals import services
from referral_site.referrals.transactions import write_transaction


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


def register(app: Flask) -> None:
    """Add the site's commands to `flask`."""
    app.cli.add_command(create_admin)
