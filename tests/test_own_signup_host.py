"""A host with its own registration: it calls attribute_signup() and forget_user().

The bookshop keys its readers by UUID strings in a ``readers`` table, names them
by a unique ``username`` (no ``name``, no ``is_admin``: a ``role``), hashes
passwords its own way, registers them at ``/join`` and turns the plugin's own
auth pages off.
"""

import hashlib
import re
import uuid

import pytest
import sqlalchemy as sa
from flask import Flask, flash, redirect, render_template_string, request, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import FlaskForm
from sqlalchemy.orm import Mapped, mapped_column
from wtforms import PasswordField, StringField

from referral_site.referrals import (
    ReferralError,
    Referrals,
    attribute_signup,
    captured_code,
    code_of,
    forget_user,
    rate_limited,
    record_conversion,
    signals,
)
from referral_site.referrals.storage.models import Referral, ReferralAccount, Reward
from tests.host_apps import BROWSER, own_database

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


JOIN_PAGE = """<form method=post>{{ form.csrf_token }}{{ form.username }}
{{ form.email }}{{ form.password }}{{ form.referral_code }}</form>
{% for m in get_flashed_messages() %}<p class=error>{{ m }}</p>{% endfor %}"""


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

    @app.route("/as/<uid>")
    def sign_in_as(uid):
        login_user(shelf.session.get(Reader, uid))
        return "ok"

    @app.post("/leave")
    def leave():
        reader = shelf.session.get(Reader, current_user.uid)
        forget_user(reader)
        reader.username = f"gone-{uuid.UUID(reader.uid).hex}"  # its own unique column
        reader.email = f"{reader.uid}@gone.invalid"
        shelf.session.commit()
        return redirect(url_for("home"))


@pytest.fixture
def bookshop(tmp_path):
    app = Flask("bookshop", template_folder=str(tmp_path / "templates"))
    with own_database(tmp_path) as database:
        app.config.update(
            database,
            SECRET_KEY="bookshop-secret",
            RATELIMIT_STORAGE_URI="memory://",
            REFERRALS_AUTH_VIEWS=False,
            REFERRALS_LANDING_ENDPOINT="join",
            REFERRALS_USER_IS_ADMIN=lambda reader: reader.role == "admin",
            REFERRALS_RATELIMIT_SIGNUP="5 per hour",
        )
        shelf.init_app(app)
        LoginManager(app).user_loader(lambda uid: shelf.session.get(Reader, uid))
        limiter = Limiter(key_func=get_remote_address, app=app)
        Referrals(app, db=shelf, user_model=Reader, limiter=limiter)
        _register_views(app)
        with app.app_context():
            shelf.create_all()
        yield app
        with app.app_context():
            shelf.session.remove()
            shelf.engine.dispose()


def _join(client, username: str, code: str | None = None):
    page = client.get("/join", headers=BROWSER).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    prefilled = re.search(r'name="referral_code" type="text" value="([^"]*)"', page)
    return client.post(
        "/join",
        headers=BROWSER,
        data={
            "csrf_token": token,
            "username": username,
            "email": f"{username}@example.com",
            "password": "correct horse battery",
            "referral_code": code if code is not None else prefilled[1],
        },
    )


def _uid(app, username: str) -> str:
    with app.app_context():
        return shelf.session.scalar(
            sa.select(Reader.uid).where(Reader.username == username)
        )


def _scalar(app, statement):
    with app.app_context():
        return shelf.session.scalar(statement)


def test_the_plugins_keys_take_the_hosts_string_key(bookshop):
    column = shelf.metadata.tables["referrals"].c.referred_id
    assert isinstance(column.type, sa.String)
    assert {fk.target_fullname for fk in column.foreign_keys} == {"readers.uid"}


def test_a_link_then_the_hosts_own_signup_attributes_the_referral(bookshop):
    _join(bookshop.test_client(), "ann")
    ann = _uid(bookshop, "ann")
    with bookshop.app_context():
        code = code_of(ann)
    visitor = bookshop.test_client()
    assert visitor.get(f"/r/{code}", headers=BROWSER).location == "/join"
    assert _join(visitor, "bob").status_code == 302  # the cookie prefilled the code
    referral = _scalar(bookshop, sa.select(Referral))
    assert (referral.referrer_id, referral.referred_id) == (ann, _uid(bookshop, "bob"))
    assert visitor.get_cookie("ref") is None  # the capture is cleared
    owner = bookshop.test_client()
    owner.get(f"/as/{ann}")
    page = owner.get("/referrals").get_data(as_text=True)
    assert "bob" in page and code in page  # shown by username, the default name


def test_an_unknown_typed_code_is_the_hosts_message_and_nothing_is_written(bookshop):
    response = _join(bookshop.test_client(), "eve", code="ZZZZ9999")
    assert response.status_code == 400
    assert "That referral code does not exist." in response.get_data(as_text=True)
    assert _scalar(bookshop, sa.select(sa.func.count()).select_from(Reader)) == 0
    assert _scalar(bookshop, sa.select(sa.func.count(ReferralAccount.user_id))) == 0


def test_a_cleared_code_field_means_no_referral(bookshop):
    _join(bookshop.test_client(), "ann")
    with bookshop.app_context():
        code = code_of(_uid(bookshop, "ann"))
    visitor = bookshop.test_client()
    visitor.get(f"/r/{code}", headers=BROWSER)
    assert _join(visitor, "bob", code="").status_code == 302
    assert _scalar(bookshop, sa.select(sa.func.count(Referral.id))) == 0


def test_signals_follow_the_hosts_commit_not_its_rollback(bookshop):
    seen = []

    def note(_app, user, referral):
        seen.append(user.username)

    signals.user_signed_up.connect(note)
    try:
        _join(bookshop.test_client(), "ann")
        _join(bookshop.test_client(), "eve", code="ZZZZ9999")  # rolled back
    finally:
        signals.user_signed_up.disconnect(note)
    assert seen == ["ann"]


def test_the_plugins_signup_pages_are_not_registered(bookshop):
    client = bookshop.test_client()
    assert client.get("/signup").status_code == 404
    assert client.post("/referrals/delete").status_code == 404


def test_the_signup_limit_applies_to_the_hosts_view(bookshop):
    statuses = [_join(bookshop.test_client(), f"u{n}").status_code for n in range(6)]
    assert statuses == [302] * 5 + [429]


def test_admin_pages_follow_the_hosts_role(bookshop):
    _join(bookshop.test_client(), "ann")
    ann = _uid(bookshop, "ann")
    client = bookshop.test_client()
    client.get(f"/as/{ann}")
    assert client.get("/admin").status_code == 403
    with bookshop.app_context():
        shelf.session.get(Reader, ann).role = "admin"
        shelf.session.commit()
    assert client.get("/admin").status_code == 200
    assert client.get(f"/admin/referrers/{ann}").status_code == 200


def test_forgetting_readers_keeps_counts_and_never_clashes(bookshop):
    _join(bookshop.test_client(), "ann")
    ann = _uid(bookshop, "ann")
    with bookshop.app_context():
        code = code_of(ann)
    for name in ("bob", "cat"):
        visitor = bookshop.test_client()
        visitor.get(f"/r/{code}", headers=BROWSER)
        _join(visitor, name)
        # Two deletions: the host's unique columns are its own to scrub.
        assert visitor.post("/leave").status_code == 302
    gone = bookshop.test_client()
    gone.get(f"/as/{ann}")
    assert gone.post("/leave").status_code == 302
    assert _scalar(bookshop, sa.select(sa.func.count(Referral.id))) == 2
    deleted = sa.select(sa.func.count()).where(ReferralAccount.deleted_at.is_not(None))
    assert _scalar(bookshop, deleted) == 3
    visitor = bookshop.test_client()
    visitor.get(f"/r/{code}", headers=BROWSER)
    assert visitor.get_cookie("ref") is None  # the forgotten code is dead


def test_a_conversion_for_a_string_keyed_reader_grants_rewards(bookshop):
    _join(bookshop.test_client(), "ann")
    with bookshop.app_context():
        code = code_of(_uid(bookshop, "ann"))
    visitor = bookshop.test_client()
    visitor.get(f"/r/{code}", headers=BROWSER)
    _join(visitor, "bob")
    with bookshop.app_context():
        record_conversion(
            _uid(bookshop, "bob"),
            kind="purchase",
            amount=2500,
            currency="USD",
            external_id="order-1",
        )
    owners = {row for row in _rewarded(bookshop)}
    assert owners == {_uid(bookshop, "ann"), _uid(bookshop, "bob")}


def _rewarded(app) -> list:
    with app.app_context():
        return list(shelf.session.scalars(sa.select(Reward.user_id)))
