"""referral_site: a Flask site built around the pluggable referrals blueprint."""

import os
from pathlib import Path

from flask import Flask

from referral_site import database, rate_limits
from referral_site.config import CONFIGS, DEV_SECRET_KEY
from referral_site.extensions import csrf, db, limiter, login_manager

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: How a boolean setting reads as true in the environment.
TRUE_WORDS = {"1", "true", "yes", "on"}


def create_app(config: type | dict | None = None) -> Flask:
    """Build the site: configuration, extensions, blueprints and commands."""
    app = Flask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    _configure(app, config)
    _init_extensions(app)
    _register_blueprints(app)
    return app


def _configure(app: Flask, override: type | dict | None) -> None:
    env_name = os.environ.get("FLASK_ENV", "development")
    app.config.from_object(CONFIGS.get(env_name, CONFIGS["development"]))
    if isinstance(override, dict):
        app.config.update(override)
    elif override is not None:
        app.config.from_object(override)
    app.config.update(_settings_from_environment())
    if app.config["SQLALCHEMY_DATABASE_URI"] is None:
        os.makedirs(app.instance_path, exist_ok=True)
        path = Path(app.instance_path) / "referral_site.db"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = database.engine_options(app.config)
    if app.config["ENV_NAME"] == "production" and app.config.get("SECRET_KEY") in (
        None,
        "",
        DEV_SECRET_KEY,
    ):
        raise RuntimeError(
            "Refusing to start in production without a SECRET_KEY: set the "
            "SECRET_KEY environment variable to a long random value, e.g. "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`."
        )


#: Integer settings that may also come from environment variables of the same name.
INT_SETTINGS_FROM_ENV = (
    "PASSWORD_HASH_TIME_COST",
    "PASSWORD_HASH_MEMORY_KIB",
    "PASSWORD_HASH_PARALLELISM",
    "PROXY_FIX_X_FOR",
    "DATABASE_STATEMENT_TIMEOUT_MS",
    "DATABASE_CONNECT_TIMEOUT_S",
    "DATABASE_POOL_TIMEOUT_S",
    "DATABASE_TCP_USER_TIMEOUT_MS",
    "DATABASE_POOL_SIZE",
    "DATABASE_MAX_OVERFLOW",
    "SQLITE_BUSY_TIMEOUT_MS",
    "MAIL_PORT",
)
#: Flask-Mailman's text settings, read from environment variables of the same name.
MAIL_SETTINGS_FROM_ENV = (
    "MAIL_SERVER",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_DEFAULT_SENDER",
)
#: Settings in seconds that may come from the environment (fractions allowed).
FLOAT_SETTINGS_FROM_ENV = (
    "DATABASE_CALL_TIMEOUT_S",
    "REDIS_TIMEOUT_S",
    "READYZ_TIMEOUT_S",
)


def _settings_from_environment() -> dict:
    """DATABASE_URL, SECRET_KEY, integer, MAIL_* and RATELIMIT_* settings, every
    REFERRALS_*."""
    settings = {
        name: value
        for name, value in os.environ.items()
        if name.startswith("REFERRALS_")
    }
    for name in INT_SETTINGS_FROM_ENV:
        if value := os.environ.get(name):
            settings[name] = int(value)
    for name in FLOAT_SETTINGS_FROM_ENV:
        if value := os.environ.get(name):
            settings[name] = float(value)
    # Flask-Limiter's settings, so a deployment can point every worker at Redis.
    for name in (
        "RATELIMIT_STORAGE_URI",
        "RATELIMIT_KEY_PREFIX",
        "RATELIMIT_FAILURE_POLICY",
    ):
        if value := os.environ.get(name):
            settings[name] = value
    for name in MAIL_SETTINGS_FROM_ENV:
        if (value := os.environ.get(name)) is not None:
            settings[name] = value
    for name in ("RATELIMIT_ENABLED", "MIGRATIONS_CLI", "MAIL_USE_TLS", "MAIL_USE_SSL"):
        if (enabled := os.environ.get(name)) is not None:
            settings[name] = enabled.strip().lower() in TRUE_WORDS
    if url := os.environ.get("DATABASE_URL"):
        settings["SQLALCHEMY_DATABASE_URI"] = _with_psycopg_driver(url)
    if key := os.environ.get("SECRET_KEY"):
        settings["SECRET_KEY"] = key
    return settings


def _with_psycopg_driver(url: str) -> str:
    """Point a plain postgres:// URL at psycopg 3, the driver we install."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _init_extensions(app: Flask) -> None:
    from referral_site.auth.services import set_disabled_by_id
    from referral_site.models import User
    from referral_site.referrals import Referrals

    db.init_app(app)
    database.init_app(app)
    _init_migrations(app)
    csrf.init_app(app)
    rate_limits.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    Referrals(
        app,
        db=db,
        user_model=User,
        limiter=limiter,
        set_user_disabled=set_disabled_by_id,
    )


def _init_migrations(app: Flask) -> None:
    """Flask-Migrate (`flask db`), unless MIGRATIONS_CLI is off (serving workers)."""
    if not app.config["MIGRATIONS_CLI"]:
        return
    from flask_migrate import Migrate

    from referral_site.referrals import with_referrals_migrations

    migrate = Migrate(
        app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True
    )
    migrate.configure(with_referrals_migrations)


def _register_blueprints(app: Flask) -> None:
    from referral_site import cli, errors, health, security
    from referral_site.auth.views import bp as auth_bp
    from referral_site.main.views import bp as main_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    errors.register(app)
    security.init_app(app)
    health.init_app(app)  # outermost: answered before anything else
    cli.register(app)
