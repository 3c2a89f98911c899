"""What the plugin costs the host's own pages: queries on anonymous and signed-in GETs.

Counted on the site and on the shop host of tests/test_host_database.py. Signed-in
pages note the browser's device and IP hash for the fraud signals; a marker in the
signed session makes that free once recorded, and a new device or IP is still
recorded at once.
"""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy

from referral_site.extensions import db
from referral_site.models import User
from referral_site.referrals.fraud import sightings
from referral_site.referrals.fraud.models import (
    ReferralSignalRecord,
    SightingKind,
    UserSighting,
)
from referral_site.referrals.storage.models import Referral, ReferralAccount, utcnow
from tests.conftest import login, query, scalar, signup
from tests.host_apps import BROWSER
from tests.test_fraud import HOME_IP, OFFICE_IP, client_at
from tests.test_host_database import Account, shop, shop_db  # noqa: F401


@dataclass
class Host:
    """A host app, its Flask-SQLAlchemy, the table its user loader reads, sign-in."""

    app: Flask
    database: SQLAlchemy
    users_table: str
    sign_in: Callable[[FlaskClient, str], None]
    sign_out: Callable[[FlaskClient], None]

    @property
    def engine(self) -> sa.Engine:
        with self.app.app_context():
            return self.database.engine

    def browser(self, ip: str = OFFICE_IP):
        """A browser of its own (own cookies) at one IP address."""
        client = self.app.test_client()
        client.environ_base.update(
            REMOTE_ADDR=ip, HTTP_USER_AGENT=BROWSER["User-Agent"]
        )
        return client

    def signed_in(self, email: str = "ann@example.com", ip: str = OFFICE_IP):
        client = self.browser(ip)
        self.sign_in(client, email)
        return client


def _site(request) -> Host:
    app = request.getfixturevalue("app")
    make_user = request.getfixturevalue("make_user")
    for email, name in (("ann@example.com", "Ann"), ("bob@example.com", "Bob")):
        make_user(email, name)
    return Host(
        app,
        db,
        "users",
        sign_in=lambda client, email: login(client, email),
        sign_out=lambda client: client.post("/logout"),
    )


def _shop(request) -> Host:
    app = request.getfixturevalue("shop")
    with app.app_context():
        ids = {}
        for email, name in (("ann@example.com", "Ann"), ("bob@example.com", "Bob")):
            account = Account(email=email, name=name, password_hash="x")
            shop_db.session.add(account)
            shop_db.session.flush()
            ids[email] = account.id
        shop_db.session.commit()

    def sign_in(client, email):
        assert client.get(f"/dev-login/{ids[email]}").status_code == 200

    # No sign-out page: signing in as someone else replaces the user in the session.
    return Host(app, shop_db, "accounts", sign_in, sign_out=lambda client: None)


@pytest.fixture(params=["site", "shop"])
def host(request) -> Host:
    return {"site": _site, "shop": _shop}[request.param](request)


@contextlib.contextmanager
def statements_sent(engine: sa.Engine):
    """Every SQL statement sent on the engine inside the block."""
    sent = []

    def note(_connection, _cursor, statement, *_args):
        sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


def plugin_queries(host: Host, client, *, signed_in: bool = True) -> list[str]:
    """GET the host's home page; the queries sent besides the host's own user load.

    A bare BEGIN is not counted: it opens the transaction of the user load on the
    site's SQLite (REFERRALS_TUNE_SQLITE); PostgreSQL sends none.
    """
    with statements_sent(host.engine) as sent:
        assert client.get("/").status_code == 200
    queries = [statement for statement in sent if statement != "BEGIN"]
    if signed_in:
        # Flask-Login's user_loader, the host's own query. After a write the
        # plugin's commit expires the user: loading it again is the plugin's cost.
        assert queries[0].startswith(f"SELECT {host.users_table}.")
        del queries[0]
    return queries


def sightings_of(host: Host, email: str) -> dict[SightingKind, dict[str, object]]:
    """The user's sightings: for each kind, each value with when it was last seen."""
    users = sa.table(host.users_table, sa.column("id"), sa.column("email"))
    with host.app.app_context():
        rows = host.database.session.execute(
            sa.select(UserSighting.kind, UserSighting.value, UserSighting.last_seen_at)
            .join(users, users.c.id == UserSighting.user_id)
            .where(users.c.email == email)
        ).all()
    found = {}
    for kind, value, seen_at in rows:
        found.setdefault(kind, {})[value] = seen_at
    return found


def test_anonymous_host_page_costs_no_query(host):
    browser = host.browser()
    assert plugin_queries(host, browser, signed_in=False) == []
    assert plugin_queries(host, browser, signed_in=False) == []


def test_a_landing_through_a_known_link_reads_nothing_once_cached(app, make_user):
    # The code, the inviter's name and the program in force come from the
    # worker's caches: a new visitor's /?ref= only writes its visit.
    make_user("ann@example.com", "Ann")
    code = scalar(app, sa.select(ReferralAccount.code))
    host = Host(app, db, "users", sign_in=login, sign_out=lambda client: None)
    first = host.browser()
    assert "Ann</span> invited you" in first.get(f"/?ref={code}").get_data(True)
    visitor = host.browser()
    with statements_sent(host.engine) as sent:
        page = visitor.get(f"/?ref={code}").get_data(as_text=True)
    assert "Ann</span> invited you" in page
    reads = [s for s in sent if s.lstrip().upper().startswith("SELECT")]
    assert reads == [], sent


def test_signed_in_host_page_costs_the_plugin_nothing_once_recorded(host):
    browser = host.signed_in()
    plugin_queries(host, browser)  # the first page records device and IP
    seen = sightings_of(host, "ann@example.com")
    assert {kind: len(values) for kind, values in seen.items()} == {
        SightingKind.DEVICE: 1,
        SightingKind.IP: 1,
    }
    for _ in range(3):
        assert plugin_queries(host, browser) == []
    assert sightings_of(host, "ann@example.com") == seen


def test_another_session_of_a_recorded_browser_costs_one_read(host):
    first = host.signed_in()
    plugin_queries(host, first)
    again = host.browser()  # same browser and IP, a new session: no marker yet
    visitor = host.app.config["REFERRALS_VISITOR_COOKIE_NAME"]
    again.set_cookie(visitor, first.get_cookie(visitor).value)
    host.sign_in(again, "ann@example.com")
    seen = sightings_of(host, "ann@example.com")

    assert len(plugin_queries(host, again)) == 1  # the rows are fresh: no write
    assert plugin_queries(host, again) == []
    assert sightings_of(host, "ann@example.com") == seen


def test_a_record_older_than_the_refresh_interval_is_written_again(host, monkeypatch):
    browser = host.signed_in()
    plugin_queries(host, browser)
    later = utcnow() + sightings.SIGHTING_REFRESH + timedelta(minutes=1)
    monkeypatch.setattr(sightings, "utcnow", lambda: later)

    assert plugin_queries(host, browser) != []
    seen = sightings_of(host, "ann@example.com")
    assert [at for values in seen.values() for at in values.values()] == [later] * 2
    assert plugin_queries(host, browser) == []


def test_another_user_on_the_same_browser_is_recorded(host):
    browser = host.signed_in("ann@example.com")
    plugin_queries(host, browser)
    host.sign_out(browser)
    host.sign_in(browser, "bob@example.com")
    plugin_queries(host, browser)
    assert set(sightings_of(host, "bob@example.com")) == set(SightingKind)


def signals_of(app, email) -> set[str]:
    """The signal names stored on the referral of the site's user with this email."""
    rows = query(
        app,
        sa.select(ReferralSignalRecord.name)
        .join(Referral, Referral.id == ReferralSignalRecord.referral_id)
        .join(User, User.id == Referral.referred_id)
        .where(User.email == email),
    )
    return {row.name.value for row in rows}


def test_a_new_device_of_a_signed_in_referrer_is_recorded_at_once(app, make_user):
    _, code = make_user("john.smith@gmail.com", "John")
    browser = client_at(app, OFFICE_IP)
    login(browser, "john.smith@gmail.com")
    browser.get("/referrals")  # device and IP noted; the session holds the marker
    visitor = app.config["REFERRALS_VISITOR_COOKIE_NAME"]
    browser.delete_cookie(visitor)  # the same session in a new browser profile
    browser.get("/")  # a new visitor id is drawn: the new device is noted
    browser.post("/logout")
    browser.get(f"/r/{code}")
    assert signup(browser, email="second@example.com").status_code == 302
    assert signals_of(app, "second@example.com") == {"same_device", "same_ip"}


def test_a_new_ip_of_a_signed_in_referrer_is_recorded_at_once(app, make_user):
    _, code = make_user("john.smith@gmail.com", "John")
    browser = client_at(app, OFFICE_IP)
    login(browser, "john.smith@gmail.com")
    browser.get("/referrals")
    browser.environ_base["REMOTE_ADDR"] = HOME_IP  # the same session, now at home
    browser.get("/")
    housemate = client_at(app, HOME_IP)
    housemate.get(f"/r/{code}")
    assert signup(housemate, email="housemate@example.com").status_code == 302
    assert signals_of(app, "housemate@example.com") == {"same_ip"}
