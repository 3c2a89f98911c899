"""Conversions in through the JSON API and the Python call: auth, validation, replay.

The tests run on both hosts (tests/hosts.py), the site and the bookshop, the API
taking each host's own user keys; malformed integer keys are the site's.
"""

import re

import pytest
import sqlalchemy as sa

from referral_site.referrals import signals
from referral_site.referrals.rewards import conversions
from referral_site.referrals.storage.models import (
    Conversion,
    Referral,
    ReferralStatus,
    Reward,
    RewardStatus,
)
from tests.conftest import plugin_session, scalar
from tests.reward_helpers import (
    API_KEY,
    AUTH,
    conversion_body,
    days_ago,
    post_conversion,
    referred_pair,
    rewards_of,
)


@pytest.fixture
def api_app(host):
    """The host (the site, then the bookshop), its API key set."""
    return host.app


@pytest.fixture
def make_user(host):
    """People of the host, joining through its own signup."""
    return host.users


def test_api_is_off_without_a_key(make_host):
    host = make_host(REFERRALS_API_KEY="")
    referred_pair(host.users)
    client = host.client()
    response = post_conversion(client, **conversion_body())
    assert response.status_code == 404
    assert "REFERRALS_API_KEY" in response.get_json()["error"]
    assert scalar(client.application, sa.select(sa.func.count(Conversion.id))) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": f"Basic {API_KEY}"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {API_KEY}x"},
    ],
)
def test_api_refuses_a_missing_or_wrong_key(api_app, make_user, headers):
    referred_pair(make_user)
    response = post_conversion(api_app.test_client(), headers, **conversion_body())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert scalar(api_app, sa.select(sa.func.count(Conversion.id))) == 0


def test_conversion_of_a_referred_user_grants_the_default_double_sided_rewards(
    api_app, make_user
):
    ann, bob = referred_pair(make_user)
    response = post_conversion(
        api_app.test_client(),
        **conversion_body(occurred_at="2026-03-01T10:00:00+00:00"),
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["referred"] is True and body["amount"] == 4999
    assert [(r["user_id"], r["amount"], r["status"]) for r in body["rewards"]] == [
        (ann, 1000, "pending"),
        (bob, 500, "pending"),
    ]
    assert rewards_of(api_app) == [
        (ann, "first-conversion", 1000, "USD", RewardStatus.PENDING),
        (bob, "first-conversion", 500, "USD", RewardStatus.PENDING),
    ]
    holds = {h.isoformat() for h in _column(api_app, Reward.hold_until)}
    assert holds == {"2026-03-15T10:00:00+00:00"}
    status, converted_at = _referral(api_app, bob)
    assert status == ReferralStatus.CONVERTED
    assert converted_at.isoformat() == "2026-03-01T10:00:00+00:00"


def test_a_replay_answers_the_same_and_records_once(api_app, make_user):
    referred_pair(make_user)
    client = api_app.test_client()
    first = post_conversion(client, **conversion_body())
    again = post_conversion(client, **conversion_body())
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json() == again.get_json()
    assert scalar(api_app, sa.select(sa.func.count(Conversion.id))) == 1
    assert len(rewards_of(api_app)) == 2


def test_a_replay_with_other_details_is_a_conflict(api_app, make_user):
    referred_pair(make_user)
    client = api_app.test_client()
    post_conversion(client, **conversion_body())
    response = post_conversion(client, **conversion_body(amount=1))
    assert response.status_code == 409
    assert scalar(api_app, sa.select(Conversion.amount_minor)) == 4999


@pytest.mark.parametrize(
    "data", [b"{not json", b"[1, 2]", b"", b'"text"', b"null"], ids=repr
)
def test_a_body_that_is_not_a_json_object_is_refused(host, data):
    response = host.client().post(
        host.url("/api/conversions"),
        data=data,
        headers=AUTH | {"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "The body must be a JSON object."


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": -1}, "amount"),
        ({"amount": 10.5}, "amount"),
        ({"amount": 1000.0}, "amount"),
        ({"amount": "1000"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 10**12 + 1}, "amount"),
        ({"amount": 10**30}, "amount"),
        ({"amount": None}, "amount"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "XXY"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": 840}, "currency"),
        ({"kind": ""}, "kind"),
        ({"kind": "Purchase!"}, "kind"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": "has space"}, "external_id"),
        ({"external_id": "x" * 129}, "external_id"),
        ({"external_id": 42}, "external_id"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-01-01T00:00:00"}, "occurred_at"),
        ({"occurred_at": 1700000000}, "occurred_at"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        ({"user_id": 1}, "user"),
        ({"user_id": 10**30, "email": None}, "user"),
        ({"email": 5}, "email"),
    ],
)
def test_malformed_fields_get_400_naming_the_field(api_app, make_user, changes, field):
    referred_pair(make_user)
    response = post_conversion(api_app.test_client(), **conversion_body(**changes))
    assert response.status_code == 400
    assert field in response.get_json()["errors"]
    assert scalar(api_app, sa.select(sa.func.count(Conversion.id))) == 0


@pytest.mark.parametrize("missing", ["kind", "amount", "currency", "external_id"])
def test_missing_fields_are_required(api_app, missing):
    body = conversion_body()
    del body[missing]
    response = post_conversion(api_app.test_client(), **body)
    assert response.status_code == 400
    assert response.get_json()["errors"][missing] == "Required."


def test_a_body_without_a_user_is_refused(api_app):
    body = conversion_body()
    del body["email"]
    response = post_conversion(api_app.test_client(), **body)
    assert response.status_code == 400
    assert "user" in response.get_json()["errors"]


#: A well-formed key that names nobody, on each host.
UNKNOWN_KEY = {"site": 999_999, "bookshop": "00000000-0000-4000-8000-000000000000"}


@pytest.mark.parametrize("who", ["email", "user_id"])
def test_an_unknown_user_gets_404(host, make_user, who):
    api_app = host.app
    referred_pair(make_user)
    body = conversion_body()
    if who == "user_id":
        del body["email"]
        body["user_id"] = UNKNOWN_KEY[host.kind]
    else:
        body["email"] = "nobody@example.com"
    response = post_conversion(api_app.test_client(), **body)
    assert response.status_code == 404
    assert scalar(api_app, sa.select(sa.func.count(Conversion.id))) == 0


def test_users_are_found_by_id_or_by_email_in_any_case(api_app, make_user):
    _, bob = referred_pair(make_user)
    client = api_app.test_client()
    by_email = conversion_body(user_email="  BOB@Example.com ")
    assert post_conversion(client, **by_email).status_code == 201
    by_id = conversion_body(external_id="ch_2")
    del by_id["email"]
    response = post_conversion(client, **by_id | {"user_id": bob})
    assert response.status_code == 201 and response.get_json()["user_id"] == bob


def test_a_user_who_was_not_referred_is_recorded_but_earns_nothing(api_app, make_user):
    make_user("solo@example.com", "Solo")
    response = post_conversion(
        api_app.test_client(), **conversion_body(user_email="solo@example.com")
    )
    assert response.status_code == 201
    assert response.get_json()["referred"] is False
    assert response.get_json()["rewards"] == []
    assert scalar(api_app, sa.select(sa.func.count(Conversion.id))) == 1
    assert rewards_of(api_app) == []


def test_only_the_first_conversion_earns_under_the_default_program(api_app, make_user):
    _, bob = referred_pair(make_user)
    client = api_app.test_client()
    post_conversion(client, **conversion_body(occurred_at="2026-03-01T10:00:00Z"))
    second = post_conversion(
        client,
        **conversion_body(external_id="ch_2", occurred_at="2026-03-05T10:00:00Z"),
    )
    assert second.status_code == 201 and second.get_json()["rewards"] == []
    assert len(rewards_of(api_app)) == 2
    assert _referral(api_app, bob)[1].isoformat() == "2026-03-01T10:00:00+00:00"


def test_the_python_call_is_idempotent_and_validates(api_app, make_user):
    ann, bob = referred_pair(make_user)
    with api_app.app_context():
        first = conversions.record_conversion(
            bob, kind="subscription", amount=900, external_id="sub_1"
        )
        again = conversions.record_conversion(
            bob, kind="subscription", amount=900, external_id="sub_1"
        )
        with pytest.raises(conversions.InvalidConversion) as invalid:
            conversions.record_conversion(
                bob, kind="purchase", amount=-5, currency="ZZZ", external_id="x"
            )
    assert first.created and not again.created
    assert first.currency == "USD"  # REFERRALS_DEFAULT_CURRENCY
    assert first.rewards == again.rewards and len(first.rewards) == 2
    assert set(invalid.value.errors) == {"amount", "currency"}
    assert scalar(api_app, sa.select(sa.func.count(Conversion.id))) == 1


def test_signals_announce_conversions_and_rewards(api_app, make_user):
    ann, bob = referred_pair(make_user)
    seen = []

    def remember(name):
        return lambda _app, **kwargs: seen.append((name, kwargs))

    receivers = [
        (signals.conversion_recorded, remember("conversion")),
        (signals.reward_created, remember("reward")),
        (signals.reward_status_changed, remember("status")),
        (signals.conversion_refunded, remember("refund")),
    ]
    for signal, receiver in receivers:
        signal.connect(receiver)
    try:
        client = api_app.test_client()
        post_conversion(client, **conversion_body())
        post_conversion(client, **conversion_body())  # a replay announces nothing
        client.post(_url(api_app, "/api/conversions/ch_1/refund"), headers=AUTH)
    finally:
        for signal, receiver in receivers:
            signal.disconnect(receiver)
    names = [name for name, _ in seen]
    assert names == ["reward", "reward", "conversion", "status", "status", "refund"]
    assert seen[0][1]["user_id"] == ann and seen[1][1]["user_id"] == bob
    assert seen[3][1]["new_status"] == RewardStatus.REVERSED


def test_refund_of_an_unknown_conversion_is_404(api_app):
    client = api_app.test_client()
    response = client.post(_url(api_app, "/api/conversions/nope/refund"), headers=AUTH)
    assert response.status_code == 404


def test_refund_needs_the_api_key(api_app, make_user):
    referred_pair(make_user)
    client = api_app.test_client()
    post_conversion(client, **conversion_body())
    assert client.post(_url(api_app, "/api/conversions/ch_1/refund")).status_code == 401
    assert _column(api_app, Conversion.refunded_at) == [None]


def test_an_old_conversion_is_recorded_with_its_time(api_app, make_user):
    referred_pair(make_user)
    when = days_ago(30).replace(microsecond=0)
    post_conversion(
        api_app.test_client(), **conversion_body(occurred_at=when.isoformat())
    )
    assert _column(api_app, Conversion.occurred_at) == [when]


def _url(app, path: str) -> str:
    return app.config["REFERRALS_URL_PREFIX"] + path


def _column(app, column):
    with app.app_context():
        return list(plugin_session(app).scalars(sa.select(column)))


def _referral(app, referred_id):
    with app.app_context():
        return (
            plugin_session(app)
            .execute(
                sa.select(Referral.status, Referral.converted_at).where(
                    Referral.referred_id == referred_id
                )
            )
            .one()
        )


def test_a_posted_conversion_goes_from_pending_to_paid_and_the_user_sees_it(
    host, make_user
):
    make_user("boss@example.com", "Boss", admin=True)
    referred_pair(make_user)
    when = days_ago(15).isoformat()
    post_conversion(host.client(), **conversion_body(occurred_at=when))
    ann = host.client()
    host.sign_in(ann, "Ann")
    mine = host.url("/referrals")
    assert re.search(r'data-total="pending">\$10.00<', ann.get(mine).text)

    result = host.app.test_cli_runner().invoke(args=["referrals", "process-rewards"])
    assert "approved 2" in result.output
    assert re.search(r'data-total="approved">\$10.00<', ann.get(mine).text)

    admin = host.client()
    host.sign_in(admin, "Boss")
    ids = [r["id"] for r in post_conversion(admin, **conversion_body()).json["rewards"]]
    queue = host.url("/admin/rewards")
    host.submit(admin, queue, data={"reward_ids": ids[0], "pay": "Mark paid"})
    host.submit(
        admin,
        queue,
        data={"reward_ids": ids[1], "reject": "Reject", "reason": "test account"},
    )
    page = ann.get(mine).text
    assert re.search(r'data-total="paid">\$10.00<', page)
    assert re.search(r'data-total="approved">\$0.00<', page)
    assert [r[4] for r in rewards_of(host.app)] == [
        RewardStatus.PAID,
        RewardStatus.REJECTED,
    ]


#: Keys not of the host's key type (integers on the site, strings on the bookshop).
MALFORMED_KEYS = {
    "site": [0, -3, 2**31, 10**30, "7", 7.0, True],
    "bookshop": [7, 7.0, True, "", "x" * 1000, ["a"]],
}


def test_a_malformed_user_id_is_refused(host):
    for user_id in MALFORMED_KEYS[host.kind]:
        body = conversion_body() | {"user_id": user_id}
        del body["email"]
        response = post_conversion(host.client(), **body)
        assert response.status_code == 400, user_id
        assert "user_id" in response.get_json()["errors"], user_id


def test_external_ids_with_slashes_can_be_refunded(host, make_user):
    referred_pair(make_user)
    client = host.client()
    post_conversion(client, **conversion_body(external_id="inv/2026/17"))
    response = client.post(
        host.url("/api/conversions/inv/2026/17/refund"), headers=AUTH
    )
    assert response.status_code == 200 and response.get_json()["refunded"] is True
    assert [r["status"] for r in response.get_json()["rewards"]] == [
        "reversed",
        "reversed",
    ]


def test_the_api_is_exempt_from_csrf_but_still_needs_its_key(host, make_user):
    referred_pair(make_user)
    host.app.config["WTF_CSRF_ENABLED"] = True  # the site's tests turn it off
    client = host.client()
    assert post_conversion(client, **conversion_body()).status_code == 201
    assert post_conversion(client, {}, **conversion_body()).status_code == 401
