"""PostgreSQL connections: fail fast when the server is away or a query hangs."""

from flask import Flask
from sqlalchemy import event

from referral_site.extensions import db


def engine_options(config: dict) -> dict:
    """Engine options for the configured database URL."""
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if str(config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        connect_args = dict(options.get("connect_args", {}))
        connect_args.setdefault("connect_timeout", 5)
        options["connect_args"] = connect_args
    return options


def init_app(app: Flask) -> None:
    """Give each new PostgreSQL connection the configured statement timeout."""
    timeout_ms = int(app.config.get("DATABASE_STATEMENT_TIMEOUT_MS") or 0)
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "postgresql" and timeout_ms > 0:
                event.listen(engine, "connect", _statement_timeout(timeout_ms))


def _statement_timeout(timeout_ms: int):
    def on_connect(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {int(timeout_ms)}")
        dbapi_connection.commit()

    return on_connect
