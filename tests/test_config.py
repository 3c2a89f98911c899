"""Configuration from the environment, and production's refusal of a default secret."""

import pytest

from referral_site import create_app
from referral_site.config import DEV_SECRET_KEY


@pytest.mark.parametrize("secret", [None, "", DEV_SECRET_KEY])
def test_production_refuses_to_start_without_a_real_secret(monkeypatch, secret):
    monkeypatch.setenv("FLASK_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    if secret:
        monkeypatch.setenv("SECRET_KEY", secret)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_production_with_a_secret_uses_secure_cookies(monkeypatch):
    monkeypatch.setenv("FLASK_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 64)
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    assert app.config["REFERRALS_COOKIE_SECURE"] is True


def test_environment_settings_are_read_and_typed(monkeypatch):
    monkeypatch.setenv("REFERRALS_ATTRIBUTION_WINDOW_DAYS", "7")
    monkeypatch.setenv("REFERRALS_COOKIE_SECURE", "true")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.example/app")
    app = create_app()
    assert app.config["REFERRALS_ATTRIBUTION_WINDOW_DAYS"] == 7
    assert app.config["REFERRALS_COOKIE_SECURE"] is True
    assert (
        app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/app"
    )


def test_default_database_is_sqlite_under_instance(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("instance/referral_site.db")


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(app):
    from referral_site.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite settings")
        connection = db.session.connection()
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_integer_settings_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("PASSWORD_HASH_MEMORY_KIB", "64")
    monkeypatch.setenv("PROXY_FIX_X_FOR", "2")
    monkeypatch.setenv("SQLITE_BUSY_TIMEOUT_MS", "250")
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["PASSWORD_HASH_MEMORY_KIB"] == 64
    assert app.config["PROXY_FIX_X_FOR"] == 2
    assert app.config["SQLITE_BUSY_TIMEOUT_MS"] == 250


@pytest.mark.parametrize(
    ("raw", "enabled"), [("false", False), ("0", False), ("true", True)]
)
def test_rate_limit_settings_are_read_from_the_environment(monkeypatch, raw, enabled):
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://cache.example:6379")
    monkeypatch.setenv("RATELIMIT_ENABLED", raw)
    monkeypatch.setenv("REFERRALS_RATELIMIT_SIGNUP", "100 per hour")
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://cache.example:6379"
    assert app.config["RATELIMIT_ENABLED"] is enabled
    assert app.config["REFERRALS_RATELIMIT_SIGNUP"] == "100 per hour"


def test_rate_limits_can_be_switched_off(make_app):
    from tests.conftest import signup

    app = make_app(RATELIMIT_ENABLED=False, REFERRALS_RATELIMIT_SIGNUP="1 per hour")
    for n in range(3):
        assert (
            signup(app.test_client(), email=f"x{n}@example.com", code="").status_code
            == 302
        )


@pytest.mark.parametrize(("setting", "registered"), [(None, True), ("0", False)])
def test_migrations_are_registered_unless_turned_off_for_workers(
    monkeypatch, setting, registered
):
    if setting is None:
        monkeypatch.delenv("MIGRATIONS_CLI", raising=False)
    else:
        monkeypatch.setenv("MIGRATIONS_CLI", setting)
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert ("migrate" in app.extensions) is registered
