"""The plugin's commands, under `flask --app wsgi referrals ...`."""

from flask.cli import AppGroup

#: Registered by Referrals.init_app; commands attach with @referrals_cli.command.
referrals_cli = AppGroup("referrals", help="Referral program maintenance commands.")
