"""Hostile input is refused at the edge: control characters (NUL included) and ids
past their column's range are a 4xx with a clear message, never a 500, and are
never stored (issue 16, items 7 and 8)."""

import re

import pytest
import sqlalchemy as sa
from werkzeug.routing import IntegerConverter

from referral_site.extensions import db
from referral_site.models import User
from referral_site.referrals.rewards.conversions import record_conversion
from referral_site.referrals.storage.models import Referral, Reward
from tests.conftest import PASSWORD, POSTGRES_URL, login, scalar
from tests.hostile_values import row_counts as _row_counts
from tests.hosts import BROWSER, Host
from tests.reward_helpers import API_KEY, AUTH, conversion_body, post_conversion
from tests.routes import object_routes

#: NUL, escape, DEL and a C1 control: no field of the program means any of them.
CONTROLS = ["\x00", "\x1b", "\x7f", "\x85"]
MESSAGE = "Remove the control characters"
#: The largest id an integer column holds on the test database.
LARGEST_ID = 2**31 - 1 if POSTGRES_URL else 2**63 - 1
PAST_THE_COLUMN = [v for v in (2**31, 2**63, 10**40) if v > LARGEST_ID]


def _counts(app) -> dict[str, int]:
    """Rows per table, but the sightings every signed-in request may write."""
    with app.app_context():
        return {k: v for k, v in _row_counts().items() if k != "user_sightings"}


@pytest.fixture
def objects(make_app, make_user):
    """Ann (an admin) referred Bob, who bought: a referral and rewards to act on."""
    app = make_app(REFERRALS_API_KEY=API_KEY)
    _, code = make_user("ann@example.com", "Ann", admin=True)
    bob_id, _ = make_user("bob@example.com", "Bob", code=code)
    with app.app_context():
        record_conversion(
            bob_id, kind="purchase", amount=4999, currency="USD", external_id="ch_1"
        )
    return app, {
        "referral_id": scalar(app, sa.select(Referral.id)),
        "reward_id": scalar(app, sa.select(sa.func.min(Reward.id))),
        # A payout batch's file is named by its currency.
        "currency": "USD",
    }


def _signed_in(app, email):
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client


def _forms(ids: dict) -> list[tuple[str | None, str, dict]]:
    """(who, path, fields) of every form of the site and the plugin; {c} marks the
    field given a control character."""
    signup = {"name": "Nina", "email": "nina@example.org", "password": PASSWORD}
    return [
        (None, "/login", {"email": "a{c}b@example.org", "password": PASSWORD}),
        (None, "/login", {"email": "ann@example.com", "password": "x{c}" + PASSWORD}),
        (None, "/signup", signup | {"name": "Nul{c}Name"}),
        (None, "/signup", signup | {"email": "ni{c}na@example.org"}),
        (None, "/signup", signup | {"password": PASSWORD + "{c}"}),
        (None, "/signup", signup | {"referral_code": "ABCD{c}EFGH"}),
        ("bob", "/referrals/code", {"code": "BOB{c}CODE"}),
        ("bob", "/referrals/delete", {"password": PASSWORD + "{c}"}),
        ("ann", f"/admin/fraud/{ids['referral_id']}/clear", {"reason": "ok{c}"}),
        ("ann", f"/admin/fraud/{ids['referral_id']}/confirm", {"reason": "no{c}"}),
        (
            "ann",
            "/admin/rewards",
            {"reward_ids": [str(ids["reward_id"])], "reject": "1", "reason": "x{c}"},
        ),
        ("ann", f"/admin/rewards/{ids['reward_id']}", {"reject": "1", "reason": "{c}"}),
        ("ann", "/admin/rewards", {"reward_ids": ["1{c}"], "approve": "1"}),
    ]


@pytest.mark.parametrize("control", CONTROLS, ids=["nul", "esc", "del", "c1"])
def test_every_form_refuses_control_characters_with_a_message(objects, control):
    app, ids = objects
    for who, path, fields in _forms(ids):
        client = _signed_in(app, f"{who}@example.com") if who else app.test_client()
        data = {
            name: [v.format(c=control) for v in value]
            if isinstance(value, list)
            else value.format(c=control)
            for name, value in fields.items()
        }
        before = _counts(app)
        response = client.post(path, data=data, follow_redirects=True)
        assert response.status_code in (200, 400), (path, fields)
        assert MESSAGE in response.get_data(as_text=True) or path in (
            "/referrals/code",  # flashes its own hint: letters and digits
            "/referrals/delete",  # flashes "enter your password"
        ), (path, fields)
        assert _counts(app) == before, (path, fields)


def test_a_name_with_nul_is_not_stored(client):
    response = client.post(
        "/signup",
        data={"name": "Nul\x00Name", "email": "nul@example.org", "password": PASSWORD},
    )
    assert response.status_code == 400
    assert MESSAGE in response.get_data(as_text=True)
    assert scalar(client.application, sa.select(sa.func.count(User.id))) == 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("email", "a\x00@b.c"),
        ("external_id", "inv\x00-1"),
        ("kind", "purch\x00ase"),
        ("currency", "US\x00D"),
        ("external_id", "inv-\ud800"),  # a lone surrogate: no UTF-8 for it
        ("metadata", {"note": ["deep\x1b"]}),
    ],
)
def test_the_api_refuses_control_characters_in_json_fields(objects, field, value):
    app, _ = objects
    before = _counts(app)
    response = post_conversion(app.test_client(), **conversion_body(**{field: value}))
    assert response.status_code == 400
    assert response.get_json()["errors"][field].startswith(MESSAGE)
    assert _counts(app) == before


def test_the_api_refuses_control_characters_in_the_path(objects):
    app, _ = objects
    response = app.test_client().post("/api/conversions/a%00b/refund", headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["errors"]["external_id"].startswith(MESSAGE)


def test_a_link_with_nul_in_its_landing_path_stores_a_clean_visit(client, make_user):
    from referral_site.referrals.storage.models import Visit

    _, code = make_user()
    response = client.get(f"/some%00where?ref={code}", headers=BROWSER)
    assert response.status_code == 404
    with client.application.app_context():
        paths = list(db.session.scalars(sa.select(Visit.landing_path)))
    assert paths == ["/somewhere"]


_ARGUMENT = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


def _out_of_range_paths(app, ids: dict):
    """(endpoint, method, path) of each route naming an integer id, with every id
    past the column's range (built by hand: url_for refuses what the route does)."""
    for endpoint, rule, methods in object_routes(app):
        integer_args = {
            name
            for name, converter in rule._converters.items()
            if isinstance(converter, IntegerConverter)
        }
        for value in PAST_THE_COLUMN if integer_args else ():
            values = ids | {name: value for name in integer_args}
            path = _ARGUMENT.sub(lambda m, v=values: str(v[m[1]]), rule.rule)
            for method in sorted(methods):
                yield endpoint, method, path


def test_ids_past_the_column_are_404s_on_every_route(objects):
    app, ids = objects
    admin = _signed_in(app, "ann@example.com")
    answers = {
        (endpoint, method, path): admin.open(
            path, method=method, data={"reason": "r", "approve": "1"}
        ).status_code
        for endpoint, method, path in _out_of_range_paths(app, ids | {"user_id": 1})
    }
    assert {"referrals.admin_reward", "referrals.clear_flag"} <= {
        endpoint for endpoint, _, _ in answers
    }
    assert set(answers.values()) == {404}, answers


@pytest.mark.parametrize("value", PAST_THE_COLUMN)
def test_reward_ids_past_the_column_are_404s(objects, value):
    app, ids = objects
    admin = _signed_in(app, "ann@example.com")
    before = _counts(app)
    response = admin.post(
        "/admin/rewards",
        data={"reward_ids": [str(ids["reward_id"]), str(value)], "approve": "1"},
    )
    assert response.status_code == 404
    assert _counts(app) == before


def test_host_user_keys_with_control_characters_or_too_long_are_404s(host: Host):
    admin = host.referring_admin()
    bob = str(host.user_id("bob"))
    assert admin.get(host.url(f"/admin/referrers/{bob}")).status_code == 200
    integer_keys = bob.isdigit()
    hostile = ["a%00b", "b%1bc", "x" * 1000] + (
        [str(v) for v in PAST_THE_COLUMN] if integer_keys else []
    )
    for key in hostile:
        assert admin.get(host.url(f"/admin/referrers/{key}")).status_code == 404, key


def test_host_forms_and_api_refuse_nul_alike(host: Host):
    admin = host.referring_admin()
    response = admin.post(
        host.url("/api/conversions"),
        json={
            "user_id": host.user_id("bob"),
            "kind": "purchase",
            "amount": 100,
            "currency": "EUR",
            "external_id": "x\x00y",
        },
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 400
    refund = admin.post(
        host.url("/api/conversions/a%00b/refund"),
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert refund.status_code == 400
    page = admin.post(host.url("/referrals/code"), data={"code": "ANN\x00CODE"})
    assert page.status_code == 400  # the page again, the field marked
    assert "Remove the control characters" in page.get_data(as_text=True)
    assert "ANN\x00CODE" not in page.get_data(as_text=True)
    assert host.code("ann") != "ANN\x00CODE"
