"""The plugin on a host of its own: the host's SQLAlchemy(), tables, limiter and CSRF.

The shop below shares nothing with the site: its own ``SQLAlchemy()`` without a
naming convention, its own user model in an ``accounts`` table, its own
Flask-Limiter, Flask-WTF's per-form CSRF only (no app-wide ``CSRFProtect``) and a
URL prefix. On PostgreSQL it lives in a schema of its own.
"""

import re
from datetime import datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, login_user
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Mapped, mapped_column

from referral_site.referrals import Referrals, UTCDateTime, code_of, utcnow
from referral_site.referrals.storage.models import Referral, ReferralAccount
from tests.conftest import PASSWORD, POSTGRES_URL
from tests.host_apps import BROWSER, own_database

shop_db = SQLAlchemy()


class Account(UserMixin, shop_db.Model):
    """The shop's own user model, in a table the plugin does not name."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def set_password(self, password: str) -> None:
        self.password_hash = "plain:" + password

    def check_password(self, password: str) -> bool:
        return self.password_hash == "plain:" + password


@pytest.fixture
def shop(tmp_path):
    """The shop app with the plugin, on a database (or schema) of its own."""
    # Templates of its own (none): the plugin's standalone layout is used.
    app = Flask("shop", template_folder=str(tmp_path / "templates"))
    with own_database(tmp_path) as database:
        app.config.update(
            database,
            SECRET_KEY="shop-secret",
            REFERRALS_URL_PREFIX="/shop",
            REFERRALS_RATELIMIT_SIGNUP="3 per hour",
            RATELIMIT_STORAGE_URI="memory://",
        )
        shop_db.init_app(app)
        limiter = Limiter(key_func=get_remote_address, app=app)
        logins = LoginManager(app)
        logins.user_loader(lambda user_id: shop_db.session.get(Account, int(user_id)))
        Referrals(app, db=shop_db, user_model=Account, limiter=limiter)

        @app.route("/")
        def home():
            return "shop home"

        @app.route("/dev-login/<int:user_id>")
        def dev_login(user_id):
            login_user(shop_db.session.get(Account, user_id))
            return "ok"

        with app.app_context():
            shop_db.create_all()
        yield app
        with app.app_context():
            shop_db.session.remove()
            shop_db.engine.dispose()


def _token(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]


def _sign_up(client, name: str, email: str, code: str = "") -> int:
    page = client.get("/shop/signup", headers=BROWSER).get_data(as_text=True)
    response = client.post(
        "/shop/signup",
        headers=BROWSER,
        data={
            "csrf_token": _token(page),
            "name": name,
            "email": email,
            "password": PASSWORD,
            "referral_code": code,
        },
    )
    return response.status_code


def _scalar(app, statement):
    with app.app_context():
        return shop_db.session.scalar(statement)


def test_plugin_tables_live_on_the_hosts_metadata_and_refer_to_its_users(shop):
    table = shop_db.metadata.tables["referrals"]
    targets = {fk.target_fullname for fk in table.foreign_keys}
    assert {"accounts.id", "visits.id"} <= targets
    with shop.app_context():
        inspector = sa.inspect(shop_db.engine)
        referred = {
            fk["referred_table"] for fk in inspector.get_foreign_keys("rewards")
        }
    assert "accounts" in referred and "users" not in referred


def test_link_signup_and_referrers_page_on_the_hosts_database(shop):
    ann = shop.test_client()
    assert _sign_up(ann, "Ann", "ann@example.com") == 302
    with shop.app_context():
        ann_id = shop_db.session.scalar(sa.select(Account.id))
        code = code_of(ann_id)
    visitor = shop.test_client()
    response = visitor.get(f"/shop/r/{code}", headers=BROWSER)
    assert response.headers["Location"] == "/shop/signup"
    assert _sign_up(visitor, "Bob", "bob@example.com", code) == 302

    assert _scalar(shop, sa.select(Referral.referrer_id)) == ann_id
    owner = shop.test_client()
    owner.get(f"/dev-login/{ann_id}")
    mine = owner.get("/shop/referrals").get_data(as_text=True)
    assert "Bob" in mine and f"http://localhost/shop/r/{code}" in mine


def test_forms_are_protected_without_an_app_wide_csrf(shop):
    response = shop.test_client().post(
        "/shop/signup",
        headers=BROWSER,
        data={"name": "Eve", "email": "eve@example.com", "password": PASSWORD},
    )
    assert response.status_code == 400
    assert _scalar(shop, sa.select(sa.func.count(Account.id))) == 0


def test_admin_fraud_page_renders_its_forms_tokens(shop):
    client = shop.test_client()
    _sign_up(client, "Ann", "ann@example.com")
    with shop.app_context():
        admin = shop_db.session.scalar(sa.select(Account))
        admin.is_admin = True
        shop_db.session.commit()
        admin_id = admin.id
    client.get(f"/dev-login/{admin_id}")
    assert client.get("/shop/admin/fraud").status_code == 200


def test_the_hosts_limiter_counts_the_signup_limit(shop):
    statuses = [
        _sign_up(shop.test_client(), f"U{n}", f"u{n}@example.com") for n in range(4)
    ]
    assert statuses == [302, 302, 302, 429]
    limiter = shop.extensions["referrals"].limiter
    assert limiter in shop.extensions["limiter"]


@pytest.mark.skipif(bool(POSTGRES_URL), reason="SQLite's journal mode")
def test_the_hosts_sqlite_engine_is_left_as_it_is(shop):
    with shop.app_context(), shop_db.engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
    assert (mode, keys) == ("delete", 0)


def test_anonymous_host_pages_cost_no_query(shop):
    queries = []

    def count(_connection, _cursor, statement, *_args):
        queries.append(statement)

    with shop.app_context():
        engine = shop_db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        assert shop.test_client().get("/", headers=BROWSER).data == b"shop home"
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert queries == []


def test_a_host_table_with_a_plugin_tables_name_is_refused():
    other_db = SQLAlchemy()

    class Clash(other_db.Model):
        __tablename__ = "referrals"
        id: Mapped[int] = mapped_column(primary_key=True)

    app = Flask("clash")
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
    other_db.init_app(app)
    with pytest.raises(RuntimeError, match="already has a table named 'referrals'"):
        Referrals(app, db=other_db, user_model=Clash)


def test_backfill_gives_the_hosts_existing_users_accounts_once(shop):
    with shop.app_context():
        joined = utcnow().replace(microsecond=0)
        for n in range(3):
            shop_db.session.add(
                Account(
                    email=f"old{n}@example.com",
                    name=f"Old {n}",
                    password_hash="x",
                    created_at=joined,
                )
            )
        shop_db.session.commit()
    runner = shop.test_cli_runner()
    first = runner.invoke(args=["referrals", "backfill", "--batch-size", "2"])
    assert first.exit_code == 0 and "Created 3 referral accounts." in first.output
    again = runner.invoke(args=["referrals", "backfill"])
    assert "Created 0 referral accounts." in again.output
    with shop.app_context():
        accounts = shop_db.session.scalars(sa.select(ReferralAccount)).all()
        assert {account.created_at for account in accounts} == {joined}
        code = accounts[0].code
    visitor = shop.test_client()
    visitor.get(f"/shop/r/{code}", headers=BROWSER)
    assert visitor.get_cookie("ref") is not None
