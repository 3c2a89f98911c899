"""The referral blueprint plugged into a bare host app, not the site's factory."""

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_login import login_user

from referral_site.extensions import csrf, db, login_manager
from referral_site.models import User
from referral_site.referrals import Referrals
from referral_site.referrals.attribution import services
from referral_site.referrals.attribution.accounts import account_of
from referral_site.referrals.storage.models import Referral, Visit
from tests.conftest import PASSWORD, _database_url, scalar


@pytest.fixture
def host(make_app, tmp_path):
    """A shop app of its own: its own templates, a /shop prefix, no site blueprints."""
    make_app()  # creates the schema (SQLite) and cleans the database afterwards
    templates = tmp_path / "host_templates"
    (templates / "referrals").mkdir(parents=True)
    (templates / "referrals" / "layout.html").write_text(
        "<!doctype html><title>Shop</title><p>SHOP LAYOUT</p>"
        "{% block content %}{% endblock %}"
    )
    app = Flask("shop", template_folder=str(templates))
    app.config.update(
        SECRET_KEY="shop-secret",
        SQLALCHEMY_DATABASE_URI=_database_url(tmp_path),
        WTF_CSRF_ENABLED=False,
        PASSWORD_HASH_TIME_COST=1,
        PASSWORD_HASH_MEMORY_KIB=8,
        REFERRALS_URL_PREFIX="/shop",
    )
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    Referrals(app, db=db, user_model=User)

    @app.route("/")
    def home():
        return "shop home"

    @app.route("/dev-login/<int:user_id>")
    def dev_login(user_id):
        login_user(db.session.get(User, user_id))
        return "ok"

    return app


def test_host_app_captures_and_signs_up_through_the_plugin(host):
    with host.app_context():
        referrer = services.sign_up(
            name="Ann", email="ann@example.com", password=PASSWORD, capture=None
        )
        referrer_id, code = referrer.id, account_of(referrer.id).code
    visitor = host.test_client()
    response = visitor.get(f"/shop/r/{code}")
    assert (
        response.status_code == 302 and response.headers["Location"] == "/shop/signup"
    )
    page = visitor.get("/shop/signup").get_data(as_text=True)
    assert "SHOP LAYOUT" in page and f'value="{code}"' in page  # host's layout wins
    response = visitor.post(
        "/shop/signup",
        data={
            "name": "Bob",
            "email": "bob@example.com",
            "password": PASSWORD,
            "referral_code": code,
        },
    )
    assert response.status_code == 302
    assert scalar(host, sa.select(Referral.referrer_id)) == referrer_id
    assert scalar(host, sa.select(sa.func.count(Visit.id))) == 1
    owner = host.test_client()
    owner.get(f"/dev-login/{referrer_id}")
    mine = owner.get("/shop/referrals").get_data(as_text=True)
    assert (
        "SHOP LAYOUT" in mine
        and "Bob" in mine
        and f"http://localhost/shop/r/{code}" in mine
    )


def test_plugin_static_files_are_served(host):
    response = host.test_client().get("/shop/_referrals/static/referrals.js")
    assert response.status_code == 200 and b"clipboard" in response.data


def test_query_parameter_capture_works_on_host_pages(host):
    with host.app_context():
        ann = services.sign_up(
            name="Ann", email="ann@example.com", password=PASSWORD, capture=None
        )
        code = account_of(ann.id).code
    visitor = host.test_client()
    assert visitor.get(f"/?ref={code}").get_data(as_text=True) == "shop home"
    assert visitor.get_cookie("ref") is not None


def test_registering_twice_is_refused(host):
    with pytest.raises(RuntimeError, match="already registered"):
        Referrals(host, db=db, user_model=User)


def test_a_user_model_is_required():
    with pytest.raises(TypeError, match="user_model"):
        Referrals(Flask("bare"))


def test_settings_have_documented_defaults(host):
    assert host.config["REFERRALS_ATTRIBUTION_WINDOW_DAYS"] == 30
    assert host.config["REFERRALS_ATTRIBUTION_MODEL"] == "first_touch"


def test_a_limited_visitor_of_a_host_is_told_when_to_come_back(host):
    # The plugin's own limiter (the host handed it none) sends Retry-After.
    host.config["REFERRALS_RATELIMIT_SIGNUP"] = "1 per hour"
    visitor = host.test_client()
    form = {"name": "Bob", "email": "bob@example.com", "password": PASSWORD}
    assert visitor.post("/shop/signup", data=form).status_code == 302
    refused = visitor.post("/shop/signup", data=form | {"email": "eve@example.com"})
    assert refused.status_code == 429
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
