"""Signing in and out: hashing, redirects, sessions that really end."""

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from referral_site.extensions import db
from referral_site.models import User
from tests import proof
from tests.conftest import PASSWORD, get_user, login


def test_login_lands_on_my_referrals(client, make_user):
    make_user()
    response = login(client, "ANN@example.com")
    assert response.status_code == 302 and response.headers["Location"] == "/referrals"
    assert client.get("/referrals").status_code == 200


@pytest.mark.parametrize(
    ("email", "password"),
    [("ann@example.com", "wrong password!"), ("nobody@example.com", PASSWORD)],
)
def test_bad_credentials_get_one_message_that_reveals_nothing(
    client, make_user, email, password
):
    make_user()
    response = login(client, email, password)
    assert response.status_code == 200
    assert "Invalid email or password." in response.get_data(as_text=True)
    assert client.get("/referrals").status_code == 302


def test_an_unknown_email_costs_one_argon2_operation_like_a_known_one(
    client, make_user, monkeypatch
):
    make_user()
    login(client, "nobody@example.com")  # the first miss makes the stand-in hash
    operations = []

    def counted(name):
        real = getattr(PasswordHasher, name)

        def operation(self, *args):
            operations.append(name)
            return real(self, *args)

        return operation

    for name in ("hash", "verify"):
        monkeypatch.setattr(PasswordHasher, name, counted(name))
    for email in ("nobody@example.com", "ann@example.com"):
        login(client, email, "wrong password!")
    assert operations == ["verify", "verify"]


def test_next_parameter_to_a_local_path_is_followed(client, make_user):
    make_user()
    response = login(client, "ann@example.com", query="?next=/referrals%3Fpage%3D2")
    assert response.headers["Location"] == "/referrals?page=2"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "////evil.example",
        "\\\\evil.example",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "http:/evil.example",
    ],
)
def test_next_parameter_never_leaves_the_site(client, make_user, target):
    make_user()
    from urllib.parse import quote

    response = login(client, "ann@example.com", query="?next=" + quote(target, safe=""))
    assert response.headers["Location"] == "/referrals"


def test_password_is_hashed_with_argon2id(app, make_user):
    make_user()
    user = get_user(app, "ann@example.com")
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_default_hash_parameters_meet_owasp(make_app):
    from referral_site.config import Config

    assert (Config.PASSWORD_HASH_MEMORY_KIB, Config.PASSWORD_HASH_TIME_COST) == (
        19456,
        2,
    )
    assert Config.PASSWORD_HASH_PARALLELISM == 1


def test_outdated_hash_is_upgraded_on_login(make_app, make_user):
    make_user()  # hashed with the cheap test parameters (m=8)
    stronger = make_app(PASSWORD_HASH_MEMORY_KIB=64, PASSWORD_HASH_TIME_COST=2)
    login(stronger.test_client(), "ann@example.com")
    upgraded = get_user(stronger, "ann@example.com").password_hash
    assert "m=64,t=2,p=1" in upgraded
    assert login(stronger.test_client(), "ann@example.com").status_code == 302


def test_logout_needs_a_post(client, make_user):
    make_user()
    login(client, "ann@example.com")
    assert client.get("/logout").status_code == 405


def replay_accepted(app, cookie: str, stolen: str, *, after: str) -> bool:
    """Whether a captured cookie still opens a signed-in page; counted for the proof."""
    thief = app.test_client()
    thief.set_cookie(cookie, stolen)
    accepted = thief.get("/referrals").status_code != 302
    proof.record(f"session_replays_after_{after}", 1)
    proof.record("session_replays_accepted", int(accepted))
    return accepted


@pytest.mark.proof
def test_session_cookie_captured_before_logout_no_longer_works(app, client, make_user):
    make_user()
    login(client, "ann@example.com")
    stolen = client.get_cookie("session").value
    client.post("/logout")
    assert not replay_accepted(app, "session", stolen, after="logout")


@pytest.mark.proof
def test_remember_cookie_captured_before_logout_no_longer_works(app, client, make_user):
    make_user()
    login(client, "ann@example.com", remember="y")
    stolen = client.get_cookie("remember_token").value
    thief = app.test_client()
    thief.set_cookie("remember_token", stolen)
    assert thief.get("/referrals").status_code == 200  # works while signed in
    client.post("/logout")
    assert not replay_accepted(app, "remember_token", stolen, after="logout")


def test_password_change_ends_existing_sessions(app, client, make_user):
    make_user()
    login(client, "ann@example.com")
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "ann@example.com"))
        user.set_password("another long password")
        db.session.commit()
    assert client.get("/referrals").status_code == 302


def test_login_starts_a_fresh_session(client, make_user):
    make_user()
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    login(client, "ann@example.com")
    with client.session_transaction() as session:
        assert "planted" not in session


def test_session_cookies_are_httponly_and_lax(client, make_user):
    make_user()
    response = login(client, "ann@example.com", remember="y")
    cookies = response.headers.getlist("Set-Cookie")
    for name in ("session=", "remember_token="):
        header = next(c for c in cookies if c.startswith(name))
        assert "HttpOnly" in header and "SameSite=Lax" in header


@pytest.mark.proof
@pytest.mark.parametrize("cookie", ["session", "remember_token"])
def test_disabling_an_account_ends_its_sessions_now(app, runner, make_user, cookie):
    make_user()
    client = app.test_client()
    login(client, "ann@example.com", remember="y")
    stolen = client.get_cookie(cookie).value
    result = runner.invoke(args=["disable-user", "ann@example.com"])
    assert result.exit_code == 0, result.output
    assert client.get("/referrals").status_code == 302  # the open session ended
    assert not replay_accepted(app, cookie, stolen, after="disabling")


def test_a_disabled_account_cannot_sign_in_until_enabled(app, runner, make_user):
    make_user()
    runner.invoke(args=["disable-user", "ANN@example.com"])
    client = app.test_client()
    response = login(client, "ann@example.com")
    assert response.status_code == 200
    assert "This account is disabled" in response.get_data(as_text=True)
    assert client.get("/referrals").status_code == 302
    # A wrong password learns nothing about the account's state.
    wrong = login(app.test_client(), "ann@example.com", password="not the password")
    assert "Invalid email or password" in wrong.get_data(as_text=True)
    runner.invoke(args=["enable-user", "ann@example.com"])
    assert login(client, "ann@example.com").status_code == 302
    assert client.get("/referrals").status_code == 200


def test_disabling_an_unknown_account_is_a_clear_error(runner):
    result = runner.invoke(args=["disable-user", "nobody@example.com"])
    assert result.exit_code == 2
    assert "No account with the email nobody@example.com" in result.output
