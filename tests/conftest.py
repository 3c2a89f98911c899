"""Fixtures: a fresh app and database per test, on SQLite or on TEST_DATABASE_URL."""

import os
import re
import shutil

import pytest
import sqlalchemy as sa

from referral_site import create_app
from referral_site.config import TestingConfig
from referral_site.extensions import db
from referral_site.models import User
from referral_site.referrals.attribution import services
from referral_site.referrals.attribution.accounts import account_of
from referral_site.referrals.storage.models import ReferralAccount
from tests.postgres_cleanup import empty_written_tables

#: Fixtures of their own modules: a database to switch off, a Redis to stop, the
#: two hosts of the plugin (``host``: each test using it runs on both).
pytest_plugins = ["tests.database_switch", "tests.redis_server", "tests.hosts"]

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
PASSWORD = "correct horse battery"


def _database_url(tmp_path) -> str:
    if POSTGRES_URL:
        return POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(scope="session")
def _postgres_schema():
    """On PostgreSQL, build the schema once; each test then empties the tables."""
    if not POSTGRES_URL:
        yield
        return
    app = create_app(_base() | {"SQLALCHEMY_DATABASE_URI": _database_url(None)})
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield


def _base() -> dict:
    return {
        key: getattr(TestingConfig, key) for key in dir(TestingConfig) if key.isupper()
    }


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory):
    """On SQLite, a database file with the schema, built once; each test copies it
    (a copy costs a millisecond, building the schema twenty)."""
    if POSTGRES_URL:
        return None
    path = tmp_path_factory.mktemp("template") / "schema.db"
    app = create_app(_base() | {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        db.create_all()
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()  # the last connection's close checkpoints the log
    return path


@pytest.fixture
def make_app(tmp_path, _postgres_schema, _sqlite_template):
    """Build an app on the test database with extra settings; cleaned up after."""
    apps = []

    def build(**settings):
        config = _base() | {"SQLALCHEMY_DATABASE_URI": _database_url(tmp_path)}
        if _sqlite_template is not None and not apps:
            shutil.copyfile(_sqlite_template, tmp_path / "test.db")
        app = create_app(config | settings)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["referrals"].code_changes.stop()
        # Clicks a test left buffered are written now, into this test's database,
        # not by a later test's flush_all() into the next one's (PostgreSQL
        # tests share one schema).
        buffer = app.extensions["referrals"].visit_buffer
        if buffer is not None:
            buffer.flush()
    if apps:
        with apps[0].app_context():
            db.session.remove()
            if POSTGRES_URL:
                _empty_tables()
    for app in apps:
        # Each app has its own pool: a test's second app must not keep its
        # connections open either (PostgreSQL counts them).
        with app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


def _empty_tables() -> None:
    empty_written_tables(db.session, db.metadata)


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def smtp():
    """A real SMTP server on 127.0.0.1 and a free port, for the email tests."""
    from tests.smtp import SMTPServer

    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(make_app, smtp):
    """The site, sending its emails to the ``smtp`` server."""
    from tests.email_helpers import mail_settings

    return make_app(**mail_settings(smtp))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    """Create a user through the signup service; returns (id, referral_code)."""

    def create(email="ann@example.com", name="Ann", *, admin=False, code=None):
        with app.app_context():
            capture = (
                services.Capture(code=code, source=services.CaptureSource.TYPED)
                if code
                else None
            )
            user = services.sign_up(
                name=name, email=email, password=PASSWORD, capture=capture
            )
            if admin:
                user.is_admin = True
                db.session.commit()
            return user.id, account_of(user.id).code

    create.app = app  # for helpers that change what the user was made with
    return create


@pytest.fixture
def admin(app, make_user):
    """A signed-in admin's test client."""
    make_user("boss@example.com", "Boss", admin=True)
    client = app.test_client()
    login(client, "boss@example.com")
    return client


def login(client, email, password=PASSWORD, **extra):
    """Sign in through the login form; returns the response."""
    return client.post(
        "/login" + extra.pop("query", ""),
        data={"email": email, "password": password, **extra},
    )


def signup(client, email="bob@example.com", name="Bob", password=PASSWORD, code=None):
    """Sign up through the form; code=None leaves the cookie's prefill in place."""
    data = {"name": name, "email": email, "password": password}
    if code is None:
        page = client.get("/signup").get_data(as_text=True)
        match = re.search(r'id="referral_code"[^>]*value="([^"]*)"', page)
        data["referral_code"] = match.group(1) if match else ""
    else:
        data["referral_code"] = code
    return client.post("/signup", data=data)


def plugin_session(app):
    """The plugin's database session on app (the host's own ``SQLAlchemy()``'s)."""
    return app.extensions["referrals"].db.session


def query(app, statement):
    """Run one read query in an app context and return all rows."""
    with app.app_context():
        return plugin_session(app).execute(statement).all()


def scalar(app, statement):
    """Run one read query in an app context and return its first value."""
    with app.app_context():
        return plugin_session(app).scalar(statement)


def get_account(app, email) -> ReferralAccount:
    """The referral account of the user with this email (detached)."""
    with app.app_context():
        account = db.session.scalar(
            sa.select(ReferralAccount)
            .join(User, User.id == ReferralAccount.user_id)
            .where(User.email == email)
        )
        db.session.expunge(account)
        return account


def get_user(app, email) -> User:
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        db.session.expunge(user)
        return user
