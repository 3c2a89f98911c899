"""The user's account controls: vanity codes, data export and account deletion."""

import json

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.models import User
from referral_site.referrals import code_of
from referral_site.referrals.account import figures
from referral_site.referrals.fraud.models import ReferralCode, UserSighting
from referral_site.referrals.storage.models import (
    Referral,
    ReferralAccount,
    Reward,
    RewardKind,
    RewardStatus,
    Visit,
)
from tests.conftest import PASSWORD, get_account, get_user, login, scalar, signup
from tests.race_tools import in_parallel


def signed_in(app, email="ann@example.com"):
    client = app.test_client()
    login(client, email)
    return client


def choose(client, code):
    return client.post("/referrals/code", data={"code": code}, follow_redirects=True)


def test_vanity_code_becomes_primary_and_old_code_still_works(app, make_user):
    ann_id, old = make_user()
    page = choose(signed_in(app), "Ann2024").get_data(as_text=True)
    assert "Your code is now ANN2024" in page
    assert get_account(app, "ann@example.com").code == "ANN2024"
    for code in (old, "ann2024"):
        visitor = app.test_client()
        visitor.get(f"/r/{code}")
        assert 'value="ANN2024"' in visitor.get("/signup").get_data(as_text=True)
    signup(app.test_client(), email="bob@example.com", code=old)
    referral = scalar(app, sa.select(Referral))
    assert (referral.referrer_id, referral.code) == (ann_id, "ANN2024")
    assert scalar(app, sa.select(sa.func.count(Visit.id))) == 2


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        ("admin", "reserved"),
        ("Support", "reserved"),
        ("abc", "4 to 20"),
        ("a" * 21, "4 to 20"),
        ("ann-2024", "letters A-Z and digits only"),
        ("ÄNN2024", "letters A-Z and digits only"),
        ("ann 2024", "letters A-Z and digits only"),
    ],
)
def test_bad_vanity_codes_are_refused_with_a_reason(app, make_user, wanted, message):
    _, old = make_user()
    page = choose(signed_in(app), wanted).get_data(as_text=True)
    assert message in page
    assert get_account(app, "ann@example.com").code == old


def test_configured_reserved_words_are_refused(make_app, make_user):
    app = make_app(REFERRALS_RESERVED_CODES="acme, acmeshop")
    make_user()
    assert "reserved" in choose(signed_in(app), "AcmeShop").get_data(as_text=True)


def test_vanity_codes_are_unique_whatever_the_case(app, make_user):
    _, _ = make_user()
    _, cat_old = make_user("cat@example.com", "Cat")
    choose(signed_in(app), "Sunshine")
    page = choose(signed_in(app, "cat@example.com"), "SUNSHINE").get_data(as_text=True)
    assert "That code is taken" in page
    assert get_account(app, "cat@example.com").code == cat_old


def test_old_aliases_stay_taken_and_can_be_switched_back(app, make_user):
    _, original = make_user()
    make_user("cat@example.com", "Cat")
    ann = signed_in(app)
    choose(ann, "Sunshine")
    choose(ann, "Moonlight")
    page = choose(signed_in(app, "cat@example.com"), "sunshine").get_data(as_text=True)
    assert "taken" in page
    choose(ann, original)
    assert get_account(app, "ann@example.com").code == original
    assert scalar(app, sa.select(sa.func.count(ReferralCode.id))) == 4


def test_number_of_codes_per_user_is_capped(make_app, make_user):
    app = make_app(REFERRALS_MAX_CODES_PER_USER=2)
    make_user()
    ann = signed_in(app)
    choose(ann, "First1")
    assert "the most allowed" in choose(ann, "Second2").get_data(as_text=True)


def test_my_page_shows_the_account_controls(app, make_user):
    make_user()
    page = signed_in(app).get("/referrals").get_data(as_text=True)
    assert 'action="/referrals/code#choose-code"' in page
    assert 'href="/referrals/export"' in page
    assert 'action="/referrals/delete"' in page
    assert "<script>" not in page and 'style="' not in page


def test_export_contains_the_users_data_and_masks_others(app, make_user):
    _, code = make_user()
    signup(app.test_client(), email="bob@example.com", code=code)
    response = signed_in(app).get("/referrals/export")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert data["account"]["email"] == "ann@example.com"
    assert data["codes"] == [
        {"code": code, "primary": True, "created_at": data["codes"][0]["created_at"]}
    ]
    assert len(data["people_you_referred"]) == 1
    assert "bob@example.com" not in response.get_data(as_text=True)


def test_export_and_account_actions_need_a_login(client):
    assert client.get("/referrals/export").status_code == 302
    assert client.post("/referrals/delete", data={"password": "x"}).status_code == 302
    assert client.post("/referrals/code", data={"code": "ABCD"}).status_code == 302


@pytest.fixture
def bob_referred_by_ann(app, make_user):
    """Ann referred Bob, who holds a reward; returns (ann_id, bob_id, bob's client)."""
    ann_id, code = make_user()
    bob = app.test_client()
    bob.get(f"/r/{code}")
    signup(bob)
    login(bob, "bob@example.com")
    bob.get("/referrals")  # signed in: a sighting is stored
    bob_id = get_user(app, "bob@example.com").id
    with app.app_context():
        db.session.add(
            Reward(
                user_id=bob_id,
                kind=RewardKind.CREDIT,
                amount_minor=500,
                currency="EUR",
                status=RewardStatus.APPROVED,
            )
        )
        db.session.commit()
    return ann_id, bob_id, bob


def test_wrong_password_deletes_nothing(app, bob_referred_by_ann):
    _, bob_id, bob = bob_referred_by_ann
    page = bob.post(
        "/referrals/delete", data={"password": "not it"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "nothing was deleted" in page
    assert get_account(app, "bob@example.com").deleted_at is None


def test_deleting_an_account_anonymises_it_and_keeps_the_counts(
    app, bob_referred_by_ann
):
    ann_id, bob_id, bob = bob_referred_by_ann
    bob_code = get_account(app, "bob@example.com").code
    response = bob.post("/referrals/delete", data={"password": PASSWORD})
    assert response.status_code == 302
    with app.app_context():
        row = db.session.get(User, bob_id)
        assert db.session.get(ReferralAccount, bob_id).deleted_at is not None
        assert row.name == "Deleted user"
        assert "bob" not in row.email and not row.check_password(PASSWORD)
        summary = figures.referrer_summary(ann_id)
        assert summary.signups == 1 and summary.clicks == 1
    assert bob.get("/referrals").status_code == 302  # session ended
    assert login(app.test_client(), "bob@example.com").status_code == 200  # refused
    assert scalar(app, sa.select(sa.func.count(Reward.id))) == 1  # accounting kept
    assert scalar(app, sa.select(Referral.referred_id)) == bob_id
    assert (
        scalar(app, sa.select(sa.func.count()).where(UserSighting.user_id == bob_id))
        == 0
    )
    visitor = app.test_client()
    visitor.get(f"/r/{bob_code}")
    assert visitor.get_cookie("ref") is None  # the deleted user's link is dead
    page = signed_in(app).get("/referrals").get_data(as_text=True)
    assert "Deleted user" in page and "bob@example.com" not in page


def test_account_deletion_rejects_a_missing_csrf_token(make_app, make_user):
    app = make_app(WTF_CSRF_ENABLED=True)
    make_user()
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post(
        "/login",
        data={"csrf_token": token, "email": "ann@example.com", "password": PASSWORD},
    )
    response = client.post("/referrals/delete", data={"password": PASSWORD})
    assert response.status_code == 400
    assert get_account(app, "ann@example.com").deleted_at is None


def _user_without_account(app) -> int:
    """A user the site created alone (a command, an import): no referral account."""
    with app.app_context():
        user = User(name="Dee", email="dee@example.com")
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        return user.id


def test_users_created_outside_signup_get_an_account_when_first_needed(app):
    dee_id = _user_without_account(app)
    assert scalar(app, sa.select(sa.func.count(ReferralAccount.user_id))) == 0
    dee = app.test_client()
    login(dee, "dee@example.com")
    page = dee.get("/referrals").get_data(as_text=True)
    code = scalar(app, sa.select(ReferralAccount.code))
    assert code in page
    visitor = app.test_client()
    visitor.get(f"/r/{code.lower()}")
    assert visitor.get_cookie("ref") is not None
    assert scalar(app, sa.select(Visit.referrer_id)) == dee_id


def test_an_account_created_from_racing_first_visits_is_one(app):
    """Two requests needing a new account at once: one row, one code for both."""
    dee_id = _user_without_account(app)

    def first_visit():
        with app.app_context():
            return code_of(dee_id)

    codes = in_parallel([first_visit] * 6)
    assert all(isinstance(code, str) for code in codes), codes
    assert len(set(codes)) == 1
    assert scalar(app, sa.select(sa.func.count(ReferralAccount.user_id))) == 1
    assert scalar(app, sa.select(sa.func.count(ReferralCode.id))) == 1
