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

    from referral_site.referrals.capture.visit_buffer import VisitBuffer
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
    #: Only unknown codes on /r/<code> count (code guessing); valid links never do.
    "RATELIMIT_CODE_MISSES": "10 per minute;30 per hour",
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
    #: Seconds between batched writes of visits by a background thread per process;
    #: 0 writes each visit in its request. A hard kill loses at most this much, and
    #: the host must flush on worker exit (visit_buffer.flush_all; see the site's
    #: gunicorn.conf.py).
    "VISIT_BUFFER_SECONDS": 0.0,
    #: Seconds a code -> referrer lookup is cached per process (0: no cache).
    "CODE_CACHE_SECONDS": 60,
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
    "USER_NAME": "",
    "USER_EMAIL": "",
    "USER_IS_ADMIN": "",
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
    #: None when visits are written in their request (VISIT_BUFFER_SECONDS = 0).
    visit_buffer: "VisitBuffer | None"
    #: The host's set_user_disabled(user_id, disabled) for the admin console's
    #: disable/enable buttons; None hides them (the host manages accounts).
    set_user_disabled: "Callable[[object, bool], None] | None" = None


class Referrals:
    """The Flask extension: registers the referral blueprint and its settings.

    ``db`` is the host's ``SQLAlchemy()`` instance: the plugin's tables are
    declared on its metadata, with foreign keys to ``user_model``'s primary key.
    ``limiter`` is the host's Flask-Limiter instance, if it has one; otherwise the
    plugin counts its rate limits with a limiter of its own.
    ``set_user_disabled(user_id, disabled)`` lets admins disable and enable
    accounts from the console (ending a disabled user's sessions is the host's).
    """

    def __init__(self, app: Flask | None = None, **options) -> None:
        self._options = options
        if app is not None:
            self.init_app(app, **options)

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
            code_cache=CodeCache(app.config["REFERRALS_CODE_CACHE_SECONDS"]),
            visit_buffer=_visit_buffer(app),
            set_user_disabled=options.get("set_user_disabled"),
        )
        if app.config["REFERRALS_TUNE_SQLITE"]:
            _tune_sqlite_engines(app, db)
        _register(app, user_model)


def _declare_tables(app: Flask, db: "SQLAlchemy", user_model: type) -> None:
    """Map the plugin's tables, declare them on the host's metadata, key them."""
    from referral_site.referrals.admin import models as admin_models  # noqa: F401
    from referral_site.referrals.fraud import models as fraud_models  # noqa: F401
    from referral_site.referrals.reports import models as report_models  # noqa: F401
    from referral_site.referrals.reports import rollups  # noqa: F401
    from referral_site.referrals.storage.db import declare_on_host, use_host_key_type

    declare_on_host(db.metadata, user_model.__table__)
    with app.app_context():
        use_host_key_type(db.engines.values(), user_model.__table__)


def _register(app: Flask, user_model: type) -> None:
    """Blueprints, listeners, commands and the fast path for links."""
    # Imported for their routes and listeners.
    from referral_site.referrals.account import views as account_views  # noqa: F401
    from referral_site.referrals.admin import navigation  # noqa: F401
    from referral_site.referrals.admin import views as admin_views  # noqa: F401
    from referral_site.referrals.api.views import api_bp
    from referral_site.referrals.attribution import views as signup  # noqa: F401
    from referral_site.referrals.blueprint import bp
    from referral_site.referrals.capture import views as capture  # noqa: F401
    from referral_site.referrals.cli import referrals_cli
    from referral_site.referrals.fraud import blocklist_views  # noqa: F401
    from referral_site.referrals.fraud import views as fraud_views  # noqa: F401
    from referral_site.referrals.reports import rollups
    from referral_site.referrals.reports import views as report_views  # noqa: F401
    from referral_site.referrals.rewards import engine as rewards
    from referral_site.referrals.rewards import grants, totals  # noqa: F401
    from referral_site.referrals.rewards import views as review_views  # noqa: F401

    rollups.track_users(user_model)
    rewards.init_app(app)
    app.url_map.converters["referrals_user"] = _user_id_converter(user_model)
    app.register_blueprint(bp, url_prefix=app.config["REFERRALS_URL_PREFIX"])
    if app.config["REFERRALS_AUTH_VIEWS"]:
        signup.register(app)
    elif app.config["REFERRALS_LANDING_ENDPOINT"] == DEFAULTS["LANDING_ENDPOINT"]:
        raise RuntimeError(
            "REFERRALS_AUTH_VIEWS is off, so there is no referrals.signup page: set "
            "REFERRALS_LANDING_ENDPOINT to the endpoint of your own signup page."
        )
    app.register_blueprint(api_bp, url_prefix=app.config["REFERRALS_URL_PREFIX"])
    # The API authenticates by bearer key and never reads the session cookie: a
    # host's app-wide CSRFProtect must not ask it for a form token.
    if "csrf" in app.extensions:
        app.extensions["csrf"].exempt(api_bp)
    app.cli.add_command(referrals_cli)
    # With host matching the landing page's URL depends on the request's host,
    # which only the full request cycle resolves.
    if app.config["REFERRALS_FAST_LINKS"] and not app.url_map.host_matching:
        from referral_site.referrals.capture.fast_links import FastLinks

        app.wsgi_app = FastLinks(app, app.wsgi_app)


def _user_id_converter(user_model: type):
    """URL converter of user ids in the plugin's routes: integers or strings, as
    the host's primary key is."""
    from werkzeug.routing import IntegerConverter, UnicodeConverter

    from referral_site.referrals.users import integer_keys

    return IntegerConverter if integer_keys(user_model) else UnicodeConverter


def _ip_hash_key(app: Flask) -> bytes:
    configured = app.config["REFERRALS_IP_HASH_KEY"]
    if configured:
        return configured.encode()
    secret = str(app.config.get("SECRET_KEY") or "").encode()
    return hmac.new(secret, b"referrals-ip-hash", hashlib.sha256).digest()


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
    "Attribution": "referral_site.referrals.attribution.host_signup",
    "ReferralError": "referral_site.referrals.attribution.services",
    "ReferralLoop": "referral_site.referrals.attribution.services",
    "UnknownCode": "referral_site.referrals.attribution.services",
    "attribute_signup": "referral_site.referrals.attribution.host_signup",
    "captured_code": "referral_site.referrals.attribution.host_signup",
    "code_of": "referral_site.referrals.attribution.accounts",
    "forget_user": "referral_site.referrals.attribution.host_signup",
    "UTCDateTime": "referral_site.referrals.storage.models",
    "normalize_email": "referral_site.referrals.attribution.services",
    "rate_limited": "referral_site.referrals.limits",
    "record_conversion": "referral_site.referrals.rewards.conversions",
    "refund_conversion": "referral_site.referrals.rewards.conversions",
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
