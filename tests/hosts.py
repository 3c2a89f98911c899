"""The plugin's two hosts in the tests, the site and the bookshop, used alike.

The ``host`` fixture (made available by conftest.py) runs a test once on each: the
site (its own signup pages, integer keys, the plugin at the root) and the bookshop
(tests/host_apps.py: its own ``SQLAlchemy()``, a ``readers`` table keyed by a UUID
string, a unique username, its own password scheme and registration calling
attribute_signup, its own deletion calling forget_user, a role for admins, CSRF
checked by each form rather than app-wide, the plugin under a URL prefix). A
``Host`` drives each the way its people would: its own join and sign-in pages.
"""

import contextlib
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from referral_site.extensions import db as site_db
from referral_site.models import User
from referral_site.referrals import code_of
from tests.conftest import PASSWORD, POSTGRES_URL, login, signup
from tests.host_apps import (
    BROWSER,
    Reader,
    bookshop_app,
    join_bookshop,
    own_database,
    shelf,
)
from tests.postgres_cleanup import empty_written_tables
from tests.reward_helpers import API_KEY

#: Where the bookshop mounts the plugin (the site mounts it at the root).
BOOKSHOP_PREFIX = "/club"


_TOKEN = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


class Browser(FlaskClient):
    """A person's browser: where the host's forms check CSRF tokens (the
    bookshop's always, the site's when a test turns them on), a posted form
    carries the token the host's pages carry; ``csrf=False`` leaves it out, as a
    forged post would."""

    #: A page of the host's carrying a CSRF token and no flashed messages, if
    #: its forms check tokens in the tests.
    token_page: str | None = None

    def post(self, *args, csrf=True, **kwargs):
        data = kwargs.get("data", {} if "json" not in kwargs else None)
        if self.token_page and csrf and isinstance(data, dict):
            page = self.get(self.token_page).get_data(as_text=True)
            token = _TOKEN.search(page)[1]
            # A form with a prefix (access-reason...) names its token access-csrf_token.
            names = {f"{key.split('-')[0]}-csrf_token" for key in data if "-" in key}
            kwargs["data"] = dict.fromkeys({"csrf_token", *names}, token) | data
        return super().post(*args, **kwargs)


class BookshopBrowser(Browser):
    """A browser on the bookshop, whose forms each check their token."""

    token_page = "/account"


@dataclass
class Host:
    """A host app and how a person uses it: join, sign in and out, leave."""

    kind: str  # "site" or "bookshop"
    app: Flask
    prefix: str  # where the plugin's pages are mounted
    landing: str  # the host's signup page, where a referral link lands
    join: Callable  # (client, name, code=None, email=None) -> response
    sign_in: Callable  # (client, name or email)
    sign_out: Callable  # (client)
    leave: Callable  # (client) -> response
    user_id: Callable  # (name or email) -> the host's key
    make_admin: Callable  # (name or email)
    browsers: int = field(default=0, init=False)

    @property
    def signed_out_status(self) -> int:
        """What the host's Flask-Login answers a signed-out person on a private
        page: the site sends them to its login page, the bookshop names none."""
        return 302 if self.kind == "site" else 401

    def url(self, path: str) -> str:
        """A plugin page's path on this host (under its URL prefix)."""
        return self.prefix + path

    def client(self, ip: str | None = None):
        """A person's browser: a test client sending a browser's User-Agent, from
        ip or else an address of its own (people are not all behind one IP)."""
        self.browsers += 1
        client = self.app.test_client()
        client.environ_base["HTTP_USER_AGENT"] = BROWSER["User-Agent"]
        n = self.browsers
        client.environ_base["REMOTE_ADDR"] = ip or f"10.0.{n // 250}.{n % 250 + 1}"
        return client

    @contextlib.contextmanager
    def session(self) -> Iterator:
        """The plugin's database session (the host's), inside an app context."""
        with self.app.app_context():
            yield self.app.extensions["referrals"].db.session

    def scalar(self, statement):
        with self.session() as session:
            return session.scalar(statement)

    def scalars(self, statement) -> list:
        with self.session() as session:
            return list(session.scalars(statement))

    def rows(self, statement) -> list[tuple]:
        with self.session() as session:
            return [tuple(row) for row in session.execute(statement)]

    def count(self, column, *where) -> int:
        """Rows of column's table (matching where), e.g. count(Referral.id)."""
        return self.scalar(sa.select(sa.func.count(column)).where(*where))

    def code(self, name: str) -> str:
        with self.app.app_context():
            return code_of(self.user_id(name))

    def person(self, name: str, code=None, *, email=None, ip=None):
        """Someone who joined as name (typing code, if any; at ip, if given, with
        their own address, if given); their signed-in client."""
        client = self.client(ip)
        response = self.join(client, name, code, email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    def make_user(self, name: str = "ann", code=None, *, email=None) -> tuple:
        """Someone who joined as name (typing code, if any): (their key, their code)."""
        self.person(name, code, email=email)
        return self.user_id(name), self.code(name)

    @property
    def users(self) -> Callable:
        """conftest's make_user on this host, through its own signup:
        (email, name, admin=False, code=None) -> (their key, their code)."""

        def create(email="ann@example.com", name="Ann", *, admin=False, code=None):
            self.person(name, code, email=email)
            if admin:
                self.make_admin(name)
            return self.user_id(name), self.code(name)

        create.app = self.app
        return create

    def referred(self, referrer: str, name: str):
        """A visitor follows the referrer's link and joins as name; their client."""
        visitor = self.client()
        visitor.get(self.url(f"/r/{self.code(referrer)}"))
        response = self.join(visitor, name)
        assert response.status_code == 302, response.get_data(as_text=True)
        return visitor

    def admin(self, name: str = "boss"):
        """A signed-in admin's client, who joined as name."""
        client = self.person(name)
        self.make_admin(name)
        self.sign_in(client, name)
        return client

    def referring_admin(self):
        """ann, who referred bob and is an admin: her signed-in client."""
        ann = self.person("ann")
        self.referred("ann", "bob")
        self.make_admin("ann")
        self.sign_in(ann, "ann")
        return ann

    def submit(self, client, page: str, action: str | None = None, data=None):
        """Post a form of page (to action, else page) with the CSRF token it
        carries, as a browser would."""
        found = _TOKEN.search(client.get(page).get_data(as_text=True))
        token = {"csrf_token": found[1]} if found else {}
        return client.post(action or page, data=token | (data or {}))


def _join_site(client, name, code=None, email=None):
    """Sign up on the site, then sign in with the password (as a person would
    before confirming the address: signup answers alike for every address)."""
    email = email or f"{name}@example.com"
    response = signup(client, email=email, name=name, code=code)
    if response.status_code == 302:
        login(client, email)
    return response


def _is(model, who: str):
    """The user named who, or whose address who is (an @ tells them apart)."""
    if "@" in who:
        return model.email == who
    return (model.name if model is User else model.username) == who


def site_host(app: Flask) -> Host:
    """The site as a Host; its users are told apart by name in the tests."""

    def user_id(who):
        with app.app_context():
            return site_db.session.scalar(sa.select(User.id).where(_is(User, who)))

    def sign_in(client, who):
        with app.app_context():
            email = site_db.session.scalar(sa.select(User.email).where(_is(User, who)))
        return login(client, email)

    def make_admin(name):
        with app.app_context():
            site_db.session.get(User, user_id(name)).is_admin = True
            site_db.session.commit()

    app.test_client_class = Browser
    return Host(
        kind="site",
        app=app,
        prefix="",
        landing="/signup",
        join=_join_site,
        sign_in=sign_in,
        sign_out=lambda client: client.post("/logout"),
        leave=lambda client: client.post(
            "/referrals/delete", data={"password": PASSWORD}
        ),
        user_id=user_id,
        make_admin=make_admin,
    )


def bookshop_host(app: Flask) -> Host:
    """The bookshop as a Host."""

    def user_id(who):
        with app.app_context():
            return shelf.session.scalar(sa.select(Reader.uid).where(_is(Reader, who)))

    def make_admin(name):
        with app.app_context():
            shelf.session.get(Reader, user_id(name)).role = "admin"
            shelf.session.commit()

    app.test_client_class = BookshopBrowser
    return Host(
        kind="bookshop",
        app=app,
        prefix=app.config["REFERRALS_URL_PREFIX"],
        landing="/join",
        join=join_bookshop,
        sign_in=lambda client, name: client.get(f"/as/{user_id(name)}"),
        sign_out=lambda client: client.post("/bye"),
        leave=lambda client: client.post("/leave"),
        user_id=user_id,
        make_admin=make_admin,
    )


@pytest.fixture(scope="session")
def _bookshop_schema(tmp_path_factory, _postgres_schema):
    """The bookshop's tables, made once: on SQLite a database file that each test
    copies, on PostgreSQL a schema of the bookshop's own that each test empties
    (as the site's tables are)."""
    folder = tmp_path_factory.mktemp("bookshop")
    with own_database(folder) as database, bookshop_app(folder, database=database):
        if POSTGRES_URL:
            yield database
            return
    template = folder / "test.db"

    def copy(tmp_path) -> dict:
        path = tmp_path / "bookshop.db"
        if not path.exists():  # a test's second bookshop shares its first's
            shutil.copy(template, path)
        return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"}

    yield copy


def _bookshop_database(schema, tmp_path) -> dict:
    return schema if POSTGRES_URL else schema(tmp_path)


def _empty_bookshop(app: Flask) -> None:
    """Empty the bookshop's shared schema on PostgreSQL after a test."""
    if not POSTGRES_URL:
        return
    with app.app_context():
        empty_written_tables(shelf.session, shelf.metadata)


@pytest.fixture(params=["site", "bookshop"])
def make_host(request, make_app, tmp_path):
    """Build this test's host (the site, then the bookshop) with extra settings."""
    with contextlib.ExitStack() as stack:

        def build(**settings) -> Host:
            settings = {"REFERRALS_API_KEY": API_KEY} | settings
            if request.param == "site":
                return site_host(make_app(**settings))
            settings.setdefault("REFERRALS_URL_PREFIX", BOOKSHOP_PREFIX)
            schema = request.getfixturevalue("_bookshop_schema")
            database = _bookshop_database(schema, tmp_path)
            app = stack.enter_context(
                bookshop_app(tmp_path, database=database, **settings)
            )
            stack.callback(_empty_bookshop, app)
            return bookshop_host(app)

        yield build


@pytest.fixture
def host(make_host) -> Host:
    """The site, then the bookshop: each test using it runs on both."""
    return make_host()
