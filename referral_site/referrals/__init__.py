"""A pluggable referral program for Flask: capture links, attribute signups, report.

Usage in a host app, with the host's own Flask-SQLAlchemy instance and user model::

    from referral_site.referrals import Referrals
    Referrals(app, db=db, user_model=User)            # or .init_app(app, ...)

Every setting in ``defaults.py`` can be overridden in ``app.config`` (or the
environment, through the site's factory); values given as strings are converted to
the default's type.
This module is the plugin's public API: a host imports from here (and from
``referral_site.referrals.signals``), never from the subpackages.
"""

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask

from referral_site.referrals.capture.code_cache import CodeCache
from referral_site.referrals.defaults import DEFAULTS, coerce

if TYPE_CHECKING:
    from flask_limiter import Limiter
    from flask_sqlalchemy import SQLAlchemy

    from referral_site.referrals.capture.code_changes import CodeChangeListener
    from referral_site.referrals.capture.visit_buffer import VisitBuffer
    from referral_site.referrals.limits import Guessers
    from referral_site.referrals.users import UserFields


@dataclass
class _State:
    """What the extension keeps per app, in app.extensions["referrals"]."""

    db: "SQLAlchemy"
    user_model: type
    #: How the host's users are read (users.py).
    users: "UserFields"
    limiter: "Limiter"
    ip_hash_key: bytes
    code_cache: CodeCache
    #: Empties code_cache of changed codes, in each process that uses it.
    code_changes: "CodeChangeListener"
    #: Inviters' display names by user id, for landing pages (program/invitation.py).
    inviter_names: CodeCache
    #: None when visits are written in their request (VISIT_BUFFER_SECONDS = 0).
    visit_buffer: "VisitBuffer | None"
    #: Clients past the code-guessing limit (limits.py).
    guessers: "Guessers"
    #: The host's email sender (emails/sending.py); None: Flask-Mailman.
    send_mail: "Callable | None" = None
    #: The host's set_user_disabled(user_id, disabled) for the admin console's
    #: disable/enable buttons; None hides them (the host manages accounts).
    set_user_disabled: "Callable[[object, bool], None] | None" = None


class Referrals:
    """The Flask extension: registers the referral blueprint and its settings.

    ``db`` is the host's ``SQLAlchemy()`` instance: the plugin's tables are
    declared on its metadata, with foreign keys to ``user_model``'s primary key.
    ``limiter`` is the host's Flask-Limiter instance, if it has one; otherwise the
    plugin counts its rate limits with a limiter of its own. ``send_mail`` is a
    callable taking an ``OutgoingEmail``, for a host that sends mail its own way
    (also registered with ``@referrals.mail_sender``); without one the plugin
    sends with Flask-Mailman (the host's, or its own) from the MAIL_* settings.
    ``set_user_disabled(user_id, disabled)`` lets admins disable and enable
    accounts from the console (ending a disabled user's sessions is the host's).
    """

    def __init__(self, app: Flask | None = None, **options) -> None:
        self._options = options
        self._states: list[_State] = []
        if app is not None:
            self.init_app(app, **options)

    def mail_sender(self, send: Callable) -> Callable:
        """Decorator: send the plugin's emails with this callable (OutgoingEmail)."""
        self._options["send_mail"] = send
        for state in self._states:
            state.send_mail = send
        return send

    def init_app(self, app: Flask, **options) -> None:
        """Register the blueprint, hooks and settings on an app."""
        if "referrals" in app.extensions:
            raise RuntimeError("Referrals is already registered on this app.")
        options = {**self._options, **options}
        db, user_model = options.get("db"), options.get("user_model")
        if db is None or user_model is None:
            raise TypeError("Referrals needs db=<your SQLAlchemy()> and user_model=.")
        for key, default in DEFAULTS.items():
            name = "REFERRALS_" + key
            app.config[name] = coerce(app.config.get(name, default), default)
        _declare_tables(app, db, user_model)
        from referral_site.referrals import limits, users

        app.extensions["referrals"] = _State(
            db=db,
            user_model=user_model,
            users=users.fields_for(app, user_model),
            limiter=limits.init_app(app, options.get("limiter")),
            ip_hash_key=_ip_hash_key(app),
            code_cache=(cache := CodeCache(app.config["REFERRALS_CODE_CACHE_SECONDS"])),
            code_changes=_code_changes(app, cache),
            inviter_names=CodeCache(app.config["REFERRALS_CODE_CACHE_SECONDS"]),
            visit_buffer=_visit_buffer(app),
            guessers=limits.Guessers(),
            send_mail=options.get("send_mail"),
            set_user_disabled=options.get("set_user_disabled"),
        )
        self._states.append(app.extensions["referrals"])
        if app.config["REFERRALS_TUNE_SQLITE"]:
            _tune_sqlite_engines(app, db)
        _register(app, user_model)


def _declare_tables(app: Flask, db: "SQLAlchemy", user_model: type) -> None:
    """Map the plugin's tables, declare them on the host's metadata, key them."""
    from referral_site.referrals.admin import models as admin_models  # noqa: F401
    from referral_site.referrals.billing import models as billing_models  # noqa: F401
    from referral_site.referrals.emails import models as email_models  # noqa: F401
    from referral_site.referrals.fraud import models as fraud_models  # noqa: F401
    from referral_site.referrals.outbox import models as outbox_models  # noqa: F401
    from referral_site.referrals.payouts import models as payout_models  # noqa: F401
    from referral_site.referrals.program import models as program_models  # noqa: F401
    from referral_site.referrals.reports import models as report_models  # noqa: F401
    from referral_site.referrals.reports import rollups  # noqa: F401
    from referral_site.referrals.storage.db import declare_on_host, use_host_key_type
    from referral_site.referrals.webhooks import models as webhook_models  # noqa: F401

    declare_on_host(db.metadata, user_model.__table__)
    with app.app_context():
        use_host_key_type(db.engines.values(), user_model.__table__)


def _register(app: Flask, user_model: type) -> None:
    """Blueprints, listeners, commands and the fast path for links."""
    # Imported for their routes and listeners.
    from referral_site.referrals.account import views as account_views  # noqa: F401
    from referral_site.referrals.admin import navigation  # noqa: F401
    from referral_site.referrals.admin import views as admin_views  # noqa: F401
    from referral_site.referrals.api.openapi import docs_bp
    from referral_site.referrals.api.views import api_bp
    from referral_site.referrals.attribution import views as signup  # noqa: F401
    from referral_site.referrals.billing import admin_views as billing_admin  # noqa: F401
    from referral_site.referrals.billing.views import billing_bp
    from referral_site.referrals.blueprint import bp
    from referral_site.referrals.capture import views as capture  # noqa: F401
    from referral_site.referrals.cli import referrals_cli
    from referral_site.referrals.emails import account_views as email_accounts
    from referral_site.referrals.emails import events as email_events
    from referral_site.referrals.emails import sending
    from referral_site.referrals.emails import views as email_views
    from referral_site.referrals.fraud import blocklist_views  # noqa: F401
    from referral_site.referrals.fraud import views as fraud_views  # noqa: F401
    from referral_site.referrals.jobs import queue as jobs
    from referral_site.referrals.payouts import account_views as payout_account  # noqa: F401
    from referral_site.referrals.payouts import api as payout_api  # noqa: F401
    from referral_site.referrals.payouts import settings as payout_settings
    from referral_site.referrals.payouts import views as payout_views  # noqa: F401
    from referral_site.referrals.program import views as program_views  # noqa: F401
    from referral_site.referrals.reports import rollups
    from referral_site.referrals.reports import views as report_views  # noqa: F401
    from referral_site.referrals.rewards import engine as rewards
    from referral_site.referrals.rewards import grants, totals  # noqa: F401
    from referral_site.referrals.rewards import views as review_views  # noqa: F401
    from referral_site.referrals.webhooks import consumer as webhooks  # noqa: F401
    from referral_site.referrals.webhooks import views as webhook_views  # noqa: F401

    rollups.track_users(user_model)
    rewards.init_app(app)
    payout_settings.init_app(app)
    jobs.init_app(app)
    _add_converters(app, app.extensions["referrals"].db, user_model)
    app.register_blueprint(bp, url_prefix=app.config["REFERRALS_URL_PREFIX"])
    sending.init_app(app, app.extensions["referrals"].send_mail)
    email_events.register_consumer()
    if app.config["REFERRALS_AUTH_VIEWS"]:
        signup.register(app)
        email_accounts.register(app)
    elif app.config["REFERRALS_LANDING_ENDPOINT"] == DEFAULTS["LANDING_ENDPOINT"]:
        raise RuntimeError(
            "REFERRALS_AUTH_VIEWS is off, so there is no referrals.signup page: set "
            "REFERRALS_LANDING_ENDPOINT to the endpoint of your own signup page."
        )
    app.register_blueprint(api_bp, url_prefix=app.config["REFERRALS_URL_PREFIX"])
    app.register_blueprint(billing_bp, url_prefix=app.config["REFERRALS_URL_PREFIX"])
    app.register_blueprint(docs_bp, url_prefix=app.config["REFERRALS_URL_PREFIX"])
    # The APIs authenticate by bearer key or Stripe's signature and never read the
    # session cookie: a host's app-wide CSRFProtect must not ask for a form token.
    if "csrf" in app.extensions:
        app.extensions["csrf"].exempt(api_bp)
        # RFC 8058: mail clients post to the unsubscribe link without a session;
        # its signature is the proof.
        app.extensions["csrf"].exempt(email_views.unsubscribe)
        app.extensions["csrf"].exempt(billing_bp)
    app.cli.add_command(referrals_cli)
    # With host matching the landing page's URL depends on the request's host,
    # which only the full request cycle resolves.
    if app.config["REFERRALS_FAST_LINKS"] and not app.url_map.host_matching:
        from referral_site.referrals.capture.fast_links import FastLinks

        app.wsgi_app = FastLinks(app, app.wsgi_app)


def _add_converters(app: Flask, db: "SQLAlchemy", user_model: type) -> None:
    """URL converters of the plugin's ids and of the host's user keys, bounded by
    their columns on this database, so an id no row can have is a 404."""
    from referral_site.referrals.input_checks import (
        id_converter,
        largest_integer,
        text_key_converter,
    )
    from referral_site.referrals.storage.db import user_pk
    from referral_site.referrals.storage.models import Referral, Reward
    from referral_site.referrals.users import integer_keys

    with app.app_context():
        dialect = db.engine.dialect
    ids = min(largest_integer(c.type, dialect) for c in (Referral.id, Reward.id))
    app.url_map.converters["referrals_id"] = id_converter(ids)
    key = user_pk(user_model)
    app.url_map.converters["referrals_user"] = (
        id_converter(largest_integer(key.type, dialect))
        if integer_keys(user_model)
        else text_key_converter(getattr(key.type, "length", None) or 255)
    )


def _ip_hash_key(app: Flask) -> bytes:
    configured = app.config["REFERRALS_IP_HASH_KEY"]
    if configured:
        return configured.encode()
    secret = str(app.config.get("SECRET_KEY") or "").encode()
    return hmac.new(secret, b"referrals-ip-hash", hashlib.sha256).digest()


def _code_changes(app: Flask, cache: CodeCache):
    """The listener telling the cache of code changes, started on its first use."""
    from referral_site.referrals.capture.code_changes import CodeChangeListener

    listener = CodeChangeListener(app, cache)
    if app.config["REFERRALS_CODE_CHANGES_LISTEN"]:
        cache.on_first_use = listener.start
    return listener


def _visit_buffer(app: Flask):
    from referral_site.referrals.capture.visit_buffer import VisitBuffer

    interval = float(app.config["REFERRALS_VISIT_BUFFER_SECONDS"])
    return VisitBuffer(app, interval) if interval > 0 else None


def _tune_sqlite_engines(app: Flask, db: "SQLAlchemy") -> None:
    from referral_site.referrals.storage.transactions import tune_sqlite

    busy_ms = int(app.config.get("SQLITE_BUSY_TIMEOUT_MS", 10_000))
    with app.app_context():
        for engine in db.engines.values():
            tune_sqlite(engine, busy_ms)


#: The public functions and classes, imported on first use (PEP 562) so that a
#: host importing ``Referrals`` loads nothing else.
_PUBLIC = {
    "BrowserForm": "referral_site.referrals.forms",
    "EmailBlocked": "referral_site.referrals.attribution.services",
    "EmailTaken": "referral_site.referrals.attribution.services",
    "OutgoingEmail": "referral_site.referrals.emails.sending",
    "deliver_event": "referral_site.referrals.emails.events",
    "email_verified": "referral_site.referrals.rewards.verification",
    "send_admin_digest": "referral_site.referrals.emails.digest",
    "Attribution": "referral_site.referrals.attribution.host_signup",
    "ReferralError": "referral_site.referrals.attribution.services",
    "ReferralLoop": "referral_site.referrals.attribution.services",
    "UnknownCode": "referral_site.referrals.attribution.services",
    "attribute_signup": "referral_site.referrals.attribution.host_signup",
    "captured_code": "referral_site.referrals.attribution.host_signup",
    "current_invitation": "referral_site.referrals.program.invitation",
    "Invitation": "referral_site.referrals.program.invitation",
    "code_of": "referral_site.referrals.attribution.accounts",
    "CreditConflict": "referral_site.referrals.payouts.credit",
    "DATABASE_OUTAGES": "referral_site.referrals.storage.db",
    "CreditError": "referral_site.referrals.payouts.credit",
    "CreditUse": "referral_site.referrals.payouts.credit",
    "InsufficientCredit": "referral_site.referrals.payouts.credit",
    "store_credit": "referral_site.referrals.payouts.credit",
    "use_store_credit": "referral_site.referrals.payouts.credit",
    "forget_user": "referral_site.referrals.attribution.host_signup",
    "restore_user": "referral_site.referrals.attribution.liveness",
    "suspend_user": "referral_site.referrals.attribution.liveness",
    "UTCDateTime": "referral_site.referrals.storage.models",
    "normalize_email": "referral_site.referrals.attribution.services",
    "rate_limited": "referral_site.referrals.limits",
    "record_conversion": "referral_site.referrals.rewards.conversions",
    "ConversionError": "referral_site.referrals.rewards.conversions",
    "ConversionConflict": "referral_site.referrals.rewards.conversions",
    "InvalidConversion": "referral_site.referrals.rewards.conversions",
    "UnknownConversion": "referral_site.referrals.rewards.conversions",
    "UnknownUser": "referral_site.referrals.rewards.conversions",
    "refund_conversion": "referral_site.referrals.rewards.conversions",
    "register_consumer": "referral_site.referrals.outbox.consumers",
    "sign_up": "referral_site.referrals.attribution.services",
    "skip_referrals_tables": "referral_site.referrals.storage.branch",
    "utcnow": "referral_site.referrals.storage.models",
    "with_referrals_migrations": "referral_site.referrals.storage.branch",
    "write_transaction": "referral_site.referrals.storage.transactions",
}


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
