"""Signing up: the account, its code and its referral in one transaction.

The attribution tests run on both hosts (tests/hosts.py), through each one's own
signup; the site's signup form (its fields, messages, CSRF, taken addresses and
their races, its statement count) is the site's own and is tested on the site.
"""

import re
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from referral_site.extensions import db
from referral_site.models import User
from referral_site.referrals.attribution import accounts, codes, services
from referral_site.referrals.storage.models import (
    CaptureSource,
    Referral,
    ReferralAccount,
    Visit,
)
from tests.conftest import PASSWORD, login, scalar, signup
from tests.hosts import Host

USERS = sa.select(sa.func.count(User.id))
REFERRALS = sa.select(sa.func.count(Referral.id))
ACCOUNTS = sa.select(sa.func.count(ReferralAccount.user_id))


def _account(host: Host, name: str) -> ReferralAccount:
    return host.scalar(
        sa.select(ReferralAccount).where(ReferralAccount.user_id == host.user_id(name))
    )


def test_signup_through_a_link_attributes_the_referrer(host: Host):
    referrer_id, code = host.make_user("ann")
    client = host.client()
    client.get(host.url(f"/r/{code}"))
    assert host.join(client, "bob").status_code == 302
    bob = _account(host, "bob")
    assert bob.referred_by_id == referrer_id
    referral = host.scalar(sa.select(Referral))
    visit_id = host.scalar(sa.select(Visit.id))
    assert (referral.referrer_id, referral.referred_id, referral.code) == (
        referrer_id,
        bob.user_id,
        code,
    )
    assert referral.source == CaptureSource.LINK
    assert referral.visit_id == visit_id and referral.captured_at is not None
    assert client.get_cookie("ref") is None  # used up


def test_the_sites_signup_answers_alike_and_signs_nobody_in(app, client, make_user):
    _, code = make_user()
    client.get(f"/r/{code}")
    response = signup(client)
    assert response.headers["Location"] == "/signup/sent"
    # Signed in by the emailed link or the password, not by the signup's answer,
    # which is the same for a taken address (tests/test_email_accounts.py).
    assert client.get("/referrals").status_code == 302


def test_a_referred_signup_is_one_short_transaction_read_nothing_back(
    app, client, make_user
):
    _, code = make_user()
    with app.app_context():
        engine = db.engine
    # A page first: the program is then cached for REFERRALS_PROGRAM_CHECK_SECONDS,
    # and reads that may lag (the cookie's window) ask the database nothing.
    assert client.get("/signup").status_code == 200
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert signup(client, code=code).status_code == 302
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    # The program's version is read before the write transaction (SQLite's BEGIN
    # IMMEDIATE, PostgreSQL's row lock on the referrer): that lock queues the
    # referrer's other signups, so it is held for as few round trips as can be.
    program_read = _first(statements, "referral_program_versions")
    locked = _first(statements, "BEGIN IMMEDIATE", "FOR UPDATE")
    assert program_read < locked
    statements = [statement.split(None, 1)[0].upper() for statement in statements]
    # The blocklist's check of the address (before the transaction); the program
    # version in force (one read per request, program/cache.py); the code's owner;
    # the owner's account locked and found still live (on PostgreSQL with the
    # signup IP's advisory lock in the same statement: the velocity counts are
    # exact under races); the user, their referral account and their code (the
    # email's unique constraint is its check); one query for the signals (nobody
    # referred the referrer: no loop to look for); the referral; at commit, one
    # upsert of each count it moves (the referrer's day, their all-time totals,
    # active referrers, the program's day); the outbox's two events (user.signed_up
    # and referral.created, in one executemany). No savepoint, no UPDATE of what was
    # just inserted.
    assert "SAVEPOINT" not in statements and "UPDATE" not in statements
    assert statements[-1] == "INSERT"
    assert len([name for name in statements if name != "BEGIN"]) == 14


def _first(statements: list[str], *fragments: str) -> int:
    return next(
        index
        for index, statement in enumerate(statements)
        if any(fragment in statement for fragment in fragments)
    )


def test_typed_code_is_attributed_as_typed(host: Host):
    referrer_id, code = host.make_user("ann")
    host.join(host.client(), "bob", code=code.lower())
    referral = host.scalar(sa.select(Referral))
    assert referral.referrer_id == referrer_id
    assert (referral.source, referral.visit_id) == (CaptureSource.TYPED, None)


def test_signup_without_a_code_creates_no_referral(host: Host):
    assert host.join(host.client(), "bob", code="").status_code == 302
    assert host.scalar(ACCOUNTS) == 1 and host.scalar(REFERRALS) == 0
    assert _account(host, "bob").referred_by_id is None


def test_every_user_gets_a_unique_unambiguous_code(host: Host):
    host.make_user("ann")
    host.join(host.client(), "bob", code="")
    found = host.scalars(sa.select(ReferralAccount.code))
    assert len(set(found)) == 2
    for code in found:
        assert re.fullmatch(r"[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{8}", code)


def test_code_collision_draws_a_new_code(host: Host, monkeypatch):
    _, taken = host.make_user("ann")
    drawn = iter([taken, taken, "NEWCODE2"])
    monkeypatch.setattr(accounts, "generate_code", lambda: next(drawn))
    _, code = host.make_user("cat")
    assert code == "NEWCODE2"
    assert host.scalar(ACCOUNTS) == 2


def test_unknown_code_is_refused_with_a_message_and_nothing_written(host: Host):
    client = host.client()
    response = host.join(client, "bob", code="ZZZZ9999")
    assert response.status_code == 400
    assert "That referral code does not exist." in response.get_data(as_text=True)
    assert host.scalar(ACCOUNTS) == 0
    assert host.join(client, "bob", code="").status_code == 302  # cleared: joins
    assert host.scalar(ACCOUNTS) == 1


@pytest.mark.parametrize("bad", ["ab", "abc def", "<b>x</b>", "x" * 40])
def test_malformed_code_gets_a_form_error(app, client, bad):
    response = signup(client, code=bad)
    assert response.status_code == 400
    assert "Clear the field" in response.get_data(as_text=True)
    assert scalar(app, USERS) == 0


@pytest.mark.parametrize(
    "email", ["ann@example.com", "ANN@Example.com", " ann@example.com "]
)
def test_taken_email_answers_like_a_new_one_whatever_its_case(
    app, client, make_user, email
):
    make_user("ann@example.com")
    response = signup(client, email=email, code="")
    assert response.status_code == 302
    assert response.headers["Location"] == "/signup/sent"
    assert scalar(app, USERS) == 1


@pytest.mark.parametrize(
    ("field", "data", "message"),
    [
        ("password", {"password": "short"}, "at least 10 characters"),
        ("password", {"password": "aaaaaaaaaaaa"}, "less repetitive"),
        (
            "password",
            {"password": "bobby-tables-1", "email": "bobby@example.com"},
            "email",
        ),
        ("email", {"email": "not-an-email"}, "Invalid email"),
        ("email", {"email": ""}, "required"),
        ("name", {"name": ""}, "required"),
        ("name", {"name": "x" * 101}, "longer than 100"),
    ],
)
def test_invalid_fields_get_clear_errors(app, client, field, data, message):
    form = {
        "name": "Bob",
        "email": "bob@example.com",
        "password": PASSWORD,
        "referral_code": "",
    }
    response = client.post("/signup", data=form | data)
    assert response.status_code == 400
    assert message.lower() in response.get_data(as_text=True).lower()
    assert scalar(app, USERS) == 0


def test_signed_in_users_are_sent_to_their_page(app, client, make_user):
    make_user("bob@example.com")
    login(client, "bob@example.com")
    response = client.get("/signup")
    assert response.status_code == 302 and response.headers["Location"] == "/referrals"


def test_a_user_is_attributed_at_most_once(host: Host):
    ann, _ = host.make_user("ann")
    _, cat_code = host.make_user("cat")
    bob, _ = host.make_user("bob", code=cat_code)
    with host.session() as session:
        session.add(
            Referral(
                referrer_id=ann, referred_id=bob, code="X", source=CaptureSource.TYPED
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()


def test_a_user_can_never_be_their_own_referral(host: Host):
    ann, code = host.make_user("ann")
    with host.session() as session:
        session.add(
            Referral(
                referrer_id=ann, referred_id=ann, code=code, source=CaptureSource.TYPED
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()


def test_csrf_token_is_required(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    data = {"name": "Bob", "email": "bob@example.com", "password": PASSWORD}
    assert client.post("/signup", data=data).status_code == 400
    page = client.get("/signup").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post("/signup", data=data | {"csrf_token": token}).status_code == 302
    assert scalar(app, USERS) == 1


def test_racing_signups_with_one_email_create_one_account(app, make_user):
    _, code = make_user()
    statuses, errors = [], []
    barrier = threading.Barrier(6)

    def attempt():
        client = app.test_client()
        barrier.wait()
        try:
            response = signup(client, email="race@example.com", code=code)
            statuses.append(response.status_code)
        except Exception as error:  # noqa: BLE001 - a crash is what we are looking for
            errors.append(error)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert statuses == [302] * 6  # one account, and one answer for all
    assert (
        scalar(
            app,
            sa.select(sa.func.count(User.id)).where(User.email == "race@example.com"),
        )
        == 1
    )
    assert scalar(app, REFERRALS) == 1


def test_race_losers_get_the_same_answer_and_no_account(app, monkeypatch):
    """The constraint refuses a taken email even when a lookup misses the row."""
    first = signup(app.test_client(), email="dup@example.com", code="")
    monkeypatch.setattr(services, "_email_exists", _first_call_says_free())
    response = signup(app.test_client(), email="dup@example.com", code="")
    assert (response.status_code, response.location) == (302, first.location)
    assert scalar(app, USERS) == 1


def _first_call_says_free():
    real = services._email_exists
    calls = []

    def fake(email):
        calls.append(email)
        return False if len(calls) == 1 else real(email)

    return fake


def test_codes_module_normalises_input():
    assert codes.normalize_code(" abcd2345 ") == "ABCD2345"
    assert codes.normalize_code(None) is None
    assert codes.normalize_code(["x"]) is None
    assert all(ch not in codes.ALPHABET for ch in "01OIL")
