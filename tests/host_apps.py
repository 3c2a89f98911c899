"""Host apps of the plugin built inside the tests, unlike the site; their helpers."""

import contextlib
import hashlib
import re
import uuid

import sqlalchemy as sa
from flask import Flask, flash, redirect, render_template_string, request, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import FlaskForm
from sqlalchemy.orm import Mapped, mapped_column
from wtforms import PasswordField, StringField

from referral_site.referrals import (
    ReferralError,
    Referrals,
    attribute_signup,
    captured_code,
    forget_user,
    rate_limited,
)
from tests.conftest import POSTGRES_URL, _database_url

#: A person's browser: HTTP libraries' user agents are treated as bots (no capture).
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0"}


@contextlib.contextmanager
def own_database(tmp_path):
    """Settings for a database of the host's own: a SQLite file, or on PostgreSQL a
    schema of its own (dropped afterwards), so its tables meet nobody else's."""
    url = _database_url(tmp_path)
    if not POSTGRES_URL:
        yield {"SQLALCHEMY_DATABASE_URI": url}
        return
    schema = f"host_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield {
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "connect_args": {"options": f"-csearch_path={schema}"}
            },
        }
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


shelf = SQLAlchemy()


class Reader(UserMixin, shelf.Model):
    """The bookshop's user: a UUID string key, a unique username, a role."""

    __tablename__ = "readers"

    uid: Mapped[str] = mapped_column(
        sa.String(36), primary_key=True, default=lambda: str(uuid.uuid4())
    )
    username: Mapped[str] = mapped_column(sa.String(40), unique=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    secret: Mapped[str] = mapped_column(sa.String(64))
    role: Mapped[str] = mapped_column(sa.String(10), default="reader")

    def get_id(self) -> str:
        return self.uid


class JoinForm(FlaskForm):
    username = StringField()
    email = StringField()
    password = PasswordField()
    referral_code = StringField()


JOIN_PAGE = """{% set invited = referral_invitation() %}
{% if invited %}<p class=invited>{{ invited.inviter }} invited you.
{{- ' ' ~ invited.offer if invited.offer }}</p>{% endif %}
<form method=post>{{ form.csrf_token }}{{ form.username }}
{{ form.email }}{{ form.password }}{{ form.referral_code }}</form>
{% for m in get_flashed_messages() %}<p class=error>{{ m }}</p>{% endfor %}"""


ACCOUNT_PAGE = """<form method=post action="/leave">{{ form.csrf_token }}
<button>Leave the bookshop</button></form>"""


def _register_views(app: Flask) -> None:
    @app.route("/")
    def home():
        return "bookshop"

    @app.route("/join", methods=["GET", "POST"])
    @rate_limited("SIGNUP")
    def join():
        form = JoinForm()
        if request.method == "GET":
            form.referral_code.data = captured_code()
        if form.validate_on_submit():
            reader = Reader(
                username=form.username.data,
                email=form.email.data,
                secret=hashlib.sha256(form.password.data.encode()).hexdigest(),
            )
            shelf.session.add(reader)
            shelf.session.flush()
            try:
                attribute_signup(reader, typed_code=form.referral_code.data)
            except ReferralError as error:
                shelf.session.rollback()
                flash(str(error))
                return render_template_string(JOIN_PAGE, form=form), 400
            shelf.session.commit()
            login_user(reader)
            return redirect("/")
        return render_template_string(JOIN_PAGE, form=form)

    @app.post("/quick-join/<username>")
    def quick_join(username):
        """A signup form without a code field: the captured cookie decides."""
        reader = Reader(username=username, email=f"{username}@example.com", secret="")
        shelf.session.add(reader)
        shelf.session.flush()
        attribute_signup(reader)
        shelf.session.commit()
        return redirect("/")

    @app.route("/as/<uid>")
    def sign_in_as(uid):
        login_user(shelf.session.get(Reader, uid))
        return "ok"

    @app.post("/bye")
    def bye():
        logout_user()
        return redirect(url_for("home"))

    @app.get("/account")
    def account():
        """The reader's account page: its one form, to leave, carries a token."""
        return render_template_string(ACCOUNT_PAGE, form=FlaskForm())

    @app.post("/leave")
    def leave():
        reader = shelf.session.get(Reader, current_user.uid)
        forget_user(reader)
        reader.username = f"gone-{uuid.UUID(reader.uid).hex}"  # its own unique column
        reader.email = f"{reader.uid}@gone.invalid"
        shelf.session.commit()
        return redirect(url_for("home"))


@contextlib.contextmanager
def bookshop_app(tmp_path, send_mail=None, database=None, **settings):
    """The bookshop, a host with its own accounts (tests/test_own_signup_host.py);
    ``send_mail`` is its own way of sending email, if any; ``database`` settings
    of a database already made, else one of its own."""
    app = Flask("bookshop", template_folder=str(tmp_path / "templates"))
    given = contextlib.nullcontext(database) if database else None
    with given or own_database(tmp_path) as database:
        # A test's engine options (a small pool) join the database's (its schema).
        engine_options = database.get("SQLALCHEMY_ENGINE_OPTIONS", {}) | settings.pop(
            "SQLALCHEMY_ENGINE_OPTIONS", {}
        )
        app.config.update(
            database,
            SQLALCHEMY_ENGINE_OPTIONS=engine_options,
            **{
                "SECRET_KEY": "bookshop-secret",
                "RATELIMIT_STORAGE_URI": "memory://",
                "REFERRALS_AUTH_VIEWS": False,
                "REFERRALS_LANDING_ENDPOINT": "join",
                "REFERRALS_USER_IS_ADMIN": lambda reader: reader.role == "admin",
                "REFERRALS_RATELIMIT_SIGNUP": "5 per hour",
            }
            | settings,
        )
        shelf.init_app(app)
        LoginManager(app).user_loader(lambda uid: shelf.session.get(Reader, uid))
        limiter = Limiter(key_func=get_remote_address, app=app)
        Referrals(
            app, db=shelf, user_model=Reader, limiter=limiter, send_mail=send_mail
        )
        _register_views(app)
        with app.app_context():
            shelf.create_all()
        yield app
        with app.app_context():
            shelf.session.remove()
            shelf.engine.dispose()


def post_form(client, path: str, fields: dict, code: str | None = None):
    """Fill a host's form as a person would: its CSRF token, the code field as
    prefilled from the captured cookie unless a code is typed (None)."""
    page = client.get(path, headers=BROWSER).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    prefilled = re.search(r'name="referral_code" type="text" value="([^"]*)"', page)
    if code is None:
        code = prefilled[1] if prefilled else ""
    data = {"csrf_token": token, **fields, "referral_code": code}
    return client.post(path, headers=BROWSER, data=data)


def join_bookshop(client, username: str, code: str | None = None, email=None):
    """Register through the bookshop's own form (the address defaults to the
    username's at example.com)."""
    return post_form(
        client,
        "/join",
        {
            "username": username,
            "email": email or f"{username}@example.com",
            "password": "correct horse battery",
        },
        code,
    )
