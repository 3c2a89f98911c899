"""A pluggable referral program for Flask: capture links, attribute signups, report.

Usage in a host app, with the host's own Flask-SQLAlchemy instance and user model::

    from referral_site.referrals import Referrals
    Referrals(app, db=db, user_model=User)            # or .init_app(app, ...)

Every setting below can be overridden in ``app.config`` (or the environment, through
the site's factory); values given as strings are converted to the default's type.
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

if TYPE_CHECKING:
    from flask_limiter import Limiter
    from flask_sqlalchemy import SQLAlchemy

    from referral_site.referrals.capture.code_changes import CodeChangeListener
    from referral_site.referrals.capture.visit_buffer import VisitBuffer
    from referral_site.referrals.limits import Guessers
    from referral_site.referrals.users import UserFields

#: Settings and their defaults; each is read from app.config as REFERRALS_<KEY>.
DEFAULTS: dict[str, object] = {
    #: Days a captured code stays valid for attribution (and the cookie's lifetime).
    "ATTRIBUTION_WINDOW_DAYS": 30,
    #: "first_touch" keeps the first code a visitor followed; "last_touch" the latest.
    "ATTRIBUTION_MODEL": "first_touch",
    #: Name of the signed cookie holding the captured code.
    "COOKIE_NAME": "ref",
    #: Name of the signed cookie holding the anonymous visitor id.
    "VISITOR_COOKIE_NAME": "ref_vid",
    #: Send the cookies over HTTPS only (on in the site's production config).
    "COOKIE_SECURE": False,
    #: Query parameter that captures a code on any page.
    "QUERY_PARAM": "ref",
    #: Where the blueprint is mounted ("" puts /r/<code>, /signup... at the root).
    "URL_PREFIX": "",
    #: Secret for hashing client IPs; empty means derived from SECRET_KEY.
    "IP_HASH_KEY": "",
    #: Rows per page on the user's and the admin's lists.
    "PAGE_SIZE": 25,
    #: Minimum password length on the signup form.
    "PASSWORD_MIN_LENGTH": 10,
    #: Template every plugin page extends: it must define the blocks ``title`` and
    #: ``content``, and load the plugin's CSS and JS with {{ referrals_assets() }}.
    "LAYOUT": "referrals/layout.html",
    #: Endpoint a visitor lands on after following a referral link.
    "LANDING_ENDPOINT": "referrals.signup",
    #: When the signup form's code differs from the cookie's: True uses the typed
    #: code, False keeps the cookie's (the typed one is then ignored).
    "TYPED_CODE_WINS": True,
    #: Velocity signals: more referred signups than these within the window flag.
    "VELOCITY_WINDOW_MINUTES": 60,
    "VELOCITY_MAX_PER_IP": 3,
    "VELOCITY_MAX_PER_REFERRER": 10,
    #: A refund this many days (or fewer) after the conversion flags the referral.
    "REFUND_SUSPICIOUS_DAYS": 14,
    #: Extra disposable email domains (comma or space separated), on top of the
    #: disposable-email-domains package's list.
    "EXTRA_DISPOSABLE_DOMAINS": "",
    #: Flask-Limiter limit strings, per client IP.
    "RATELIMIT_SIGNUP": "20 per hour",
    "RATELIMIT_LOGIN": "30 per minute;300 per hour",
    #: Unknown codes on /r/<code> and in ?ref= count (code guessing), together;
    #: valid links never do, but a client past it gets 429 for every code.
    "RATELIMIT_CODE_MISSES": "10 per minute;30 per hour",
    #: Failed API authentication (a missing or wrong key), per client IP; past it
    #: every API request from that client is 429, whatever key it sends.
    "RATELIMIT_API_AUTH_FAILURES": "10 per minute;50 per hour",
    #: For the conversion API (applied where that endpoint is registered).
    "RATELIMIT_API": "120 per minute",
    #: Visits older than this are purged by `referrals purge-visits` (rolled up first).
    "VISIT_RETENTION_DAYS": 90,
    #: Vanity codes: allowed length and how many codes (aliases) a user may hold.
    "VANITY_MIN_LENGTH": 4,
    "VANITY_MAX_LENGTH": 20,
    "MAX_CODES_PER_USER": 5,
    #: Extra words refused as vanity codes (comma or space separated).
    "RESERVED_CODES": "",
    #: Bearer key of the conversions API; empty turns the API off.
    "API_KEY": "",
    #: Reward rules: a list of mappings or its JSON; empty means the default program.
    "REWARD_RULES": "",
    #: Currency of fixed-amount rewards whose rule names none (ISO 4217).
    "DEFAULT_CURRENCY": "USD",
    #: Days a new reward is held before it can be approved (rules may override).
    "REWARD_HOLD_DAYS": 14,
    #: Seconds a process may keep using the attribution window and model of the
    #: program in force before asking the database whether a newer version was
    #: saved (signup and conversion always ask: one query).
    "PROGRAM_CHECK_SECONDS": 10,
    #: Seconds between batched writes of visits by a background thread per process;
    #: 0 writes each visit in its request. A hard kill loses at most this much, and
    #: the host must flush on worker exit (visit_buffer.flush_all; see the site's
    #: gunicorn.conf.py).
    "VISIT_BUFFER_SECONDS": 0.0,
    #: Seconds a code -> referrer lookup is cached per process (0: no cache). On
    #: PostgreSQL every process hears of code changes at once (LISTEN/NOTIFY, see
    #: capture/code_changes.py); this is the fallback when it cannot.
    "CODE_CACHE_SECONDS": 60,
    #: Listen for other processes' code changes (PostgreSQL LISTEN/NOTIFY, one
    #: connection per worker process): off, another worker's change reaches this
    #: one's cache only when the entry expires (CODE_CACHE_SECONDS).
    "CODE_CHANGES_LISTEN": True,
    #: Answer anonymous visitors' clicks on known codes before the app's request
    #: hooks (capture/fast_links.py; needs VISIT_BUFFER_SECONDS > 0): about twice the
    #: clicks per worker. Off by default: the host's own hooks skip those responses.
    "FAST_LINKS": False,
    #: Put the host's SQLite engines in WAL mode with a busy timeout, foreign keys
    #: and BEGIN IMMEDIATE for writes (storage/transactions.py). Off by default: the
    #: plugin leaves the host's engine alone; a SQLite host with concurrent writers
    #: should turn it on (the site does).
    "TUNE_SQLITE": False,
    #: Register the plugin's own signup page and its password-confirmed account
    #: deletion. A host with its own registration turns it off, calls
    #: attribute_signup() in its signup and forget_user() when deleting a user, and
    #: points LANDING_ENDPOINT at its own page.
    "AUTH_VIEWS": True,
    #: How a user is named, reached and recognised as an admin: an attribute name of
    #: the user model or a callable taking the model (for queries) or a user. Empty:
    #: the first of name, username, display_name, email; email; is_admin (if any).
    #: The plugin's Alembic branch (storage/branch.py): the host's revision that
    #: creates its user table (the branch runs after it), and whether the host's
    #: own history already made the plugin's tables (then they are left as they are).
    "MIGRATIONS_DEPENDS_ON": "",
    "MIGRATIONS_ADOPTED": False,
    #: Smallest payout per currency, in minor units: a mapping or its JSON, e.g.
    #: {"USD": 5000}; a currency not listed is paid from its first minor unit.
    "PAYOUT_MINIMUM": "",
    #: Day of the month (1 to 28) payouts are made, shown to the people paid.
    "PAYOUT_DAY": 1,
    #: Stripe webhook signing secrets (whsec_...), comma-separated: all are valid
    #: at once, for rotation. Empty turns POST /api/billing/stripe off.
    "STRIPE_WEBHOOK_SECRET": "",
    #: Take live-mode events (True) or test-mode events (False), never both.
    "STRIPE_LIVEMODE": False,
    #: Largest webhook body accepted, in bytes.
    "STRIPE_MAX_BYTES": 262144,
    #: Metadata key (on the Checkout Session, subscription or customer) holding
    #: the host's user id.
    "STRIPE_METADATA_KEY": "referral_user_id",
    #: Tie a payment to the user with the customer's email when nothing else does.
    #: Off: Stripe does not verify the address a customer types at checkout.
    "STRIPE_MATCH_EMAIL": False,
    "USER_NAME": "",
    "USER_EMAIL": "",
    "USER_IS_ADMIN": "",
    #: Whether a user's email address is verified: an attribute (a time or a
    #: boolean) or a callable. Empty: email_verified_at, email_verified or
    #: confirmed_at if the model has one. Rules with verified_email need it.
    "USER_EMAIL_VERIFIED": "",
    #: The site's public address for links in emails (https://example.com); empty:
    #: the address of the request sending the email (a job needs it set).
    "EMAIL_BASE_URL": "",
    #: Minutes a password reset link stays valid; hours for a verification link.
    "PASSWORD_RESET_MINUTES": 60,
    "VERIFY_EMAIL_HOURS": 72,
    #: Password reset and verification emails asked for per client IP.
    "RATELIMIT_EMAIL_LINKS": "5 per hour;20 per day",
    #: Minutes after which an email whose send never finished (its process died)
    #: is sent again by the next delivery of its event.
    "EMAIL_CLAIM_MINUTES": 10,
    #: Hour of the day (UTC) the task queue emails admins their digest.
    "EMAIL_DIGEST_HOUR": 8,
    #: Seconds an outbox consumer (or a webhook delivery) holds a claimed event:
    #: a worker that dies mid-way leaves it to be run again after this long.
    "OUTBOX_LEASE_SECONDS": 300,
    #: Runs of a failing outbox consumer on one event before it is given up.
    "OUTBOX_MAX_ATTEMPTS": 20,
    #: Days an event (with its deliveries and their log) is kept once every
    #: consumer and webhook is done with it (the daily purge job; 0 keeps all).
    "OUTBOX_RETENTION_DAYS": 30,
    #: Where background jobs are queued (jobs/queue.py): empty for a SQLite file
    #: in the instance folder (no server; `flask referrals worker` runs them),
    #: sqlite:///<file>, redis://host:6379/0 or postgresql://... to share them
    #: between hosts, "memory" (one process; the default when TESTING) or
    #: "immediate" (run on enqueue).
    "JOBS_URL": "",
    #: A process queues at most one dispatch job per this many seconds after
    #: commits that wrote events (jobs/wake.py); 0 queues one per commit.
    "JOBS_WAKE_UP_SECONDS": 0.25,
    #: Webhook request timeouts, in seconds.
    "WEBHOOK_CONNECT_TIMEOUT": 5.0,
    "WEBHOOK_READ_TIMEOUT": 10.0,
    #: Internal networks webhooks may call anyway (CIDRs, comma or space
    #: separated): private, loopback and link-local addresses are refused otherwise.
    "WEBHOOK_ALLOWED_NETWORKS": "",
    #: Deliveries sent at once by one dispatch job.
    "WEBHOOK_CONCURRENCY": 4,
    #: Hours the previous secret still signs deliveries after a rotation.
    "WEBHOOK_ROTATION_HOURS": 24,
    #: An endpoint whose every delivery failed for this long is turned off.
    "WEBHOOK_DISABLE_AFTER_HOURS": 72,
    #: Whether a user is disabled: an attribute (a hybrid property, so the admin
    #: console can filter on it in SQL) or a callable; empty: is_disabled if any.
    #: Disabling from the console also needs Referrals(set_user_disabled=...).
    "USER_IS_DISABLED": "",
}


def _coerce(value: object, default: object) -> object:
    """Convert a string setting (from the environment) to the default's type."""
    if not isinstance(value, str) or isinstance(default, str):
        return value
    if isinstance(default, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


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
            app.config[name] = _coerce(app.config.get(name, default), default)
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
