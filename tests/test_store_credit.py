"""Store credit: the public functions and the API endpoints a host uses to read a
user's credit and record its use, once per reference."""

import pytest

from referral_site.referrals import (
    CreditConflict,
    InsufficientCredit,
    store_credit,
    use_store_credit,
)
from referral_site.referrals.storage.models import RewardStatus
from tests.payout_helpers import SETTINGS, friend_buys, reward_rows, signed_in
from tests.reward_helpers import AUTH

APPROVED, PAID = RewardStatus.APPROVED, RewardStatus.PAID


@pytest.fixture
def app(make_app):
    return make_app(**SETTINGS)


@pytest.fixture
def friends(app, make_user):
    """Two friends of Ann who bought: each has 5.00 store credit. Their ids."""
    _, code = make_user("ann@example.com", "Ann")
    return [
        friend_buys(app, make_user, code, f"ch_{n}", email=f"f{n}@example.com")
        for n in (1, 2)
    ]


def credit_of(client, user_id):
    return client.get(f"/api/users/{user_id}/credit", headers=AUTH)


def use(client, user_id, **body):
    body = {"amount": 300, "currency": "USD", "reference": "order-1"} | body
    return client.post(f"/api/users/{user_id}/credit/uses", json=body, headers=AUTH)


def test_the_api_reads_and_uses_credit_once_per_reference(app, client, friends):
    friend = friends[0]
    answer = credit_of(client, friend)
    assert answer.status_code == 200
    assert answer.json == {
        "user_id": friend,
        "credit": [{"currency": "USD", "available": 500}],
    }
    first = use(client, friend)
    assert first.status_code == 201
    assert first.json["credit"] == [{"currency": "USD", "available": 200}]
    replay = use(client, friend)
    assert replay.status_code == 200 and replay.json["id"] == first.json["id"]
    assert credit_of(client, friend).json["credit"][0]["available"] == 200
    assert use(client, friend, amount=301).status_code == 409  # same reference
    assert use(client, friend, reference="order-2", amount=201).status_code == 422
    assert reward_rows(app, friend)[0][3] == APPROVED  # not yet covered
    assert use(client, friend, reference="order-2", amount=200).status_code == 201
    assert reward_rows(app, friend)[0][3] == PAID  # settled by the uses
    assert credit_of(client, friend).json["credit"][0]["available"] == 0
    page = signed_in(app, "f1@example.com").get("/referrals").get_data(as_text=True)
    assert "data-store-credit" in page


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"amount": 0}, 400),
        ({"amount": -5}, 400),
        ({"amount": 1.5}, 400),
        ({"amount": "100"}, 400),
        ({"amount": True}, 400),
        ({"currency": "usd"}, 400),
        ({"currency": "XXX"}, 400),
        ({"reference": ""}, 400),
        ({"reference": "x" * 129}, 400),
        ({"reference": "a\x00b"}, 400),
        ({"reference": 7}, 400),
    ],
)
def test_bad_uses_are_refused_and_write_nothing(app, client, friends, body, status):
    assert use(client, friends[0], **body).status_code == status
    assert credit_of(client, friends[0]).json["credit"][0]["available"] == 500


def test_the_api_needs_its_key_and_a_known_user(app, client, friends):
    assert client.get(f"/api/users/{friends[0]}/credit").status_code == 401
    assert credit_of(client, 999_999).status_code == 404
    assert use(client, 999_999).status_code == 404
    assert (
        client.post(
            f"/api/users/{friends[0]}/credit/uses", data="[]", headers=AUTH
        ).status_code
        == 400
    )


def test_the_public_functions_match_the_api(app, friends):
    with app.app_context():
        assert store_credit(friends[1]) == {"USD": 500}
        first = use_store_credit(friends[1], 500, "USD", "order-9")
        assert first.created and store_credit(friends[1]) == {"USD": 0}
        assert not use_store_credit(friends[1], 500, "USD", "order-9").created
        with pytest.raises(CreditConflict):
            use_store_credit(friends[0], 500, "USD", "order-9")
        with pytest.raises(InsufficientCredit):
            use_store_credit(friends[1], 1, "USD", "order-10")


def test_store_credit_only_turns_cash_into_credit(app, client, make_user):
    ann, code = make_user("ann@example.com", "Ann")
    friend_buys(app, make_user, code, "ch_1")
    ann_client = signed_in(app, "ann@example.com")
    ann_client.post(
        "/referrals/payout-details",
        data={
            "payout-method": "store_credit",
            "payout-password": "correct horse battery",
        },
    )
    assert credit_of(client, ann).json["credit"] == [
        {"currency": "USD", "available": 1000}
    ]
    admin_page = ann_client.get("/referrals").get_data(as_text=True)
    assert "Nothing is due to you right now." in admin_page
