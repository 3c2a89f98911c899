"""Account emails through a real SMTP server: signup without telling who has an
account, email verification, password reset; the mail-off notice."""

import base64
import re

import pytest

from referral_site.extensions import db
from referral_site.models import User
from tests.conftest import PASSWORD, get_user, login, signup
from tests.email_helpers import links, mail_settings, path_of
from tests.smtp import parts


def _answer(response, client) -> tuple:
    """What a stranger sees of a signup: status, redirect, the page it leads to,
    and which cookies it set."""
    cookies = sorted(
        header.split("=", 1)[0] for header in response.headers.getlist("Set-Cookie")
    )
    follow = client.get(response.headers["Location"])
    return (
        response.status_code,
        response.headers["Location"],
        follow.status_code,
        follow.get_data(as_text=True),
        cookies,
    )


def test_signup_with_a_registered_address_answers_alike_and_emails_its_owner(
    mail_app, smtp, make_user
):
    make_user("ann@example.com", "Ann")
    new_client, taken_client = mail_app.test_client(), mail_app.test_client()
    new = signup(new_client, email="bob@example.com", name="Bob", code="")
    taken = signup(taken_client, email="ANN@example.com", name="Mallory", code="")
    assert _answer(new, new_client) == _answer(taken, taken_client)
    assert new.status_code == 302 and new.headers["Location"] == "/signup/sent"
    smtp.wait_for(2)
    (owner,) = smtp.messages(to="ann@example.com")
    assert owner["Subject"] == "Someone tried to sign up with your address"
    text, html = parts(owner)
    assert "Hello Ann" in text and "Hello Ann" in html
    assert "Mallory" not in text  # nothing the stranger typed reaches the owner
    (welcome,) = smtp.messages(to="bob@example.com")
    assert welcome["Subject"] == "Confirm your email address"
    with mail_app.app_context():
        assert db.session.query(User).count() == 2


def test_the_owner_notice_links_to_sign_in_and_to_a_password_reset(
    mail_app, smtp, make_user
):
    make_user("ann@example.com", "Ann")
    signup(mail_app.test_client(), email="ann@example.com", code="")
    (owner,) = smtp.wait_for(1)
    client = mail_app.test_client()
    assert [path_of(link) for link in links(owner)] == ["/login", "/password/forgot"]
    for link in links(owner):
        assert client.get(path_of(link)).status_code == 200


def test_the_verification_link_confirms_the_address_and_signs_in_once(mail_app, smtp):
    client = mail_app.test_client()
    signup(client, email="bob@example.com", name="Bob", code="")
    assert client.get("/referrals").status_code == 302  # not signed in yet
    (message,) = smtp.wait_for(1)
    text, html = parts(message)
    (link,) = links(message)
    assert link in html and "72 hours" in text
    page = client.get(path_of(link))
    assert page.status_code == 200 and "Confirm my address" in page.get_data(
        as_text=True
    )  # a GET (a mail scanner) confirms nothing
    assert get_user(mail_app, "bob@example.com").email_verified_at is None
    response = client.post(path_of(link))
    assert response.status_code == 302 and response.headers["Location"] == "/referrals"
    assert "Bob" in client.get("/referrals").get_data(as_text=True)
    assert get_user(mail_app, "bob@example.com").email_verified_at is not None
    again = mail_app.test_client().post(path_of(link))
    assert again.status_code == 400 and "used already" in again.get_data(as_text=True)


@pytest.mark.parametrize(
    "path", ["/verify/forged.token", "/password/reset/forged.token"]
)
def test_a_forged_account_link_is_refused(mail_app, path):
    response = mail_app.test_client().get(path)
    assert response.status_code == 400
    assert "not valid" in response.get_data(as_text=True)


def test_a_password_reset_link_sets_a_new_password_once(mail_app, smtp, make_user):
    make_user("ann@example.com", "Ann")
    client = mail_app.test_client()
    response = client.post("/password/forgot", data={"email": " Ann@Example.com "})
    assert "If an account has this address" in response.get_data(as_text=True)
    (message,) = smtp.wait_for(1)
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "Reset your password"
    (link,) = links(message)
    assert link in parts(message)[1]
    assert client.get(path_of(link)).status_code == 200
    mismatch = client.post(
        path_of(link), data={"password": "a new long secret", "confirm": "other one"}
    )
    assert mismatch.status_code == 400  # the link still works after a typo
    done = client.post(
        path_of(link),
        data={"password": "a new long secret", "confirm": "a new long secret"},
    )
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert login(mail_app.test_client(), "ann@example.com").status_code == 200  # old
    assert (
        login(mail_app.test_client(), "ann@example.com", "a new long secret").headers[
            "Location"
        ]
        == "/referrals"
    )
    assert mail_app.test_client().get(path_of(link)).status_code == 400  # used
    assert get_user(mail_app, "ann@example.com").email_verified_at is not None


def test_a_reset_for_an_unknown_address_answers_alike_and_sends_nothing(
    mail_app, smtp, make_user
):
    make_user("ann@example.com", "Ann")
    known = mail_app.test_client().post(
        "/password/forgot", data={"email": "ann@example.com"}
    )
    unknown = mail_app.test_client().post(
        "/password/forgot", data={"email": "nobody@example.com"}
    )
    assert (known.status_code, known.get_data()) == (
        unknown.status_code,
        unknown.get_data(),
    )
    assert [m["To"] for m in smtp.wait_for(2, timeout=0.5)] == ["ann@example.com"]


def test_a_newer_reset_link_spends_the_older_ones(mail_app, smtp, make_user):
    make_user("ann@example.com", "Ann")
    client = mail_app.test_client()
    for _ in range(2):
        client.post("/password/forgot", data={"email": "ann@example.com"})
    first, second = (links(m)[0] for m in smtp.wait_for(2))
    new = {"password": "a new long secret", "confirm": "a new long secret"}
    assert client.post(path_of(second), data=new).status_code == 302
    assert client.post(path_of(first), data=new).status_code == 400


def test_without_mail_server_nothing_is_sent_and_admin_pages_say_so(
    make_app, smtp, make_user, admin
):
    for path in ("/admin", "/admin/rewards", "/admin/fraud"):
        assert 'data-mail="off"' in admin.get(path).get_data(as_text=True), path
    signup(admin.application.test_client(), email="bob@example.com", code="")
    assert smtp.wait_for(1, timeout=0.3) == []
    on = make_app(**mail_settings(smtp)).test_client()
    login(on, "boss@example.com")
    assert 'data-mail="off"' not in on.get("/admin").get_data(as_text=True)


def test_a_signed_in_user_can_ask_for_a_new_verification_link(
    mail_app, smtp, make_user
):
    make_user("ann@example.com", "Ann")
    client = mail_app.test_client()
    login(client, "ann@example.com")
    page = client.get("/referrals").get_data(as_text=True)
    assert "not confirmed yet" in page
    response = client.post("/referrals/verify")
    assert response.status_code == 302
    (message,) = smtp.wait_for(1)
    response = client.post(path_of(links(message)[0]))
    assert response.status_code == 302
    assert "not confirmed yet" not in client.get("/referrals").get_data(as_text=True)


def test_account_links_carry_no_password_or_address(mail_app, smtp):
    signup(mail_app.test_client(), email="bob@example.com", code="")
    (message,) = smtp.wait_for(1)
    (link,) = links(message)
    token = re.fullmatch(r"http://referrals\.test/verify/([\w.-]+)", link)[1]
    payload = base64.urlsafe_b64decode(token.split(".")[0] + "==")
    # A random id only: no address (the id's alphabet has no "@") nor password.
    assert b"@" not in payload and PASSWORD.encode() not in payload


@pytest.mark.parametrize(
    ("setting", "ask"),
    [
        ("REFERRALS_PASSWORD_RESET_MINUTES", "reset"),
        ("REFERRALS_VERIFY_EMAIL_HOURS", "verify"),
    ],
)
def test_an_expired_account_link_is_refused(make_app, smtp, make_user, setting, ask):
    import time

    app = make_app(**{setting: 0}, **mail_settings(smtp))
    make_user("ann@example.com", "Ann")
    client = app.test_client()
    if ask == "reset":
        client.post("/password/forgot", data={"email": "ann@example.com"})
    else:
        login(client, "ann@example.com")
        client.post("/referrals/verify")
    (message,) = smtp.wait_for(1)
    time.sleep(1.1)  # links are dated to the second; 0 allows none
    response = client.post(path_of(links(message)[0]))
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
