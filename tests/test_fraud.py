"""Fraud signals at signup and conversion, hard rules, and the admin's flag review."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.models import User
from referral_site.referrals import signals
from referral_site.referrals.account import service as account
from referral_site.referrals.fraud import review as fraud
from referral_site.referrals.fraud.models import (
    FlagAction,
    ReferralFlagEvent,
    ReferralSignalRecord,
    SightingKind,
    UserSighting,
)
from referral_site.referrals.storage.models import (
    Referral,
    ReferralAccount,
    ReviewStatus,
    utcnow,
)
from tests.conftest import PASSWORD, login, query, scalar, signup

OFFICE_IP = "198.51.100.7"
HOME_IP = "203.0.113.50"


def client_at(app, ip):
    """A browser of its own (own cookies) coming from one IP address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def signals_of(app, email):
    """The signal names stored on the referral of the user with this email."""
    rows = query(
        app,
        sa.select(ReferralSignalRecord.name)
        .join(Referral, Referral.id == ReferralSignalRecord.referral_id)
        .join(User, User.id == Referral.referred_id)
        .where(User.email == email),
    )
    return {row.name.value for row in rows}


def review_of(app, email):
    return scalar(
        app,
        sa.select(Referral.review_status)
        .join(User, User.id == Referral.referred_id)
        .where(User.email == email),
    )


def referrer_seen_at(app, make_user, ip, email="john.smith@gmail.com"):
    """A referrer signed in from `ip` in their own browser; returns code, client."""
    _, code = make_user(email, "John")
    browser = client_at(app, ip)
    login(browser, email)
    browser.get("/referrals")  # a signed-in page: device and IP are noted
    return code, browser


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("john.smith@gmail.com", "johnsmith+x@googlemail.com", True),
        ("John.Smith@Gmail.com", "johnsmith@gmail.com", True),
        ("john@example.com", "john+promo@example.com", True),
        ("JOHN@example.com", "john@EXAMPLE.com", True),
        ("john.smith@example.com", "johnsmith@example.com", False),
        ("john@gmail.com", "john@example.com", False),
        ("johnsmith@gmail.com", "johnsmith2@gmail.com", False),
    ],
)
def test_comparison_email_ignores_case_gmail_dots_and_tags(first, second, same):
    assert (fraud.comparison_email(first) == fraud.comparison_email(second)) is same


def test_own_email_in_another_spelling_is_flagged_not_refused(app, make_user):
    _, code = make_user("john.smith@gmail.com", "John")
    response = signup(
        client_at(app, HOME_IP), email="johnsmith+x@googlemail.com", code=code
    )
    assert response.status_code == 302  # the account exists: soft signal
    assert signals_of(app, "johnsmith+x@googlemail.com") == {"own_email"}
    assert review_of(app, "johnsmith+x@googlemail.com") == ReviewStatus.FLAGGED


def test_a_similar_but_different_email_is_not_flagged(app, make_user):
    _, code = make_user("john.smith@gmail.com", "John")
    signup(client_at(app, HOME_IP), email="johnsmith2@gmail.com", code=code)
    assert signals_of(app, "johnsmith2@gmail.com") == set()
    assert review_of(app, "johnsmith2@gmail.com") == ReviewStatus.CLEAR


def test_signup_from_the_referrers_own_browser_is_flagged(app, make_user):
    code, browser = referrer_seen_at(app, make_user, OFFICE_IP)
    browser.post("/logout")
    browser.get(f"/r/{code}")  # signed out: the same browser follows the link
    assert signup(browser, email="second@example.com").status_code == 302
    assert signals_of(app, "second@example.com") == {"same_device", "same_ip"}


def test_two_people_behind_one_office_ip_are_flagged_never_blocked(app, make_user):
    code, _ = referrer_seen_at(app, make_user, OFFICE_IP)
    colleague = client_at(app, OFFICE_IP)  # another browser, same address
    colleague.get(f"/r/{code}")
    assert signup(colleague, email="colleague@example.com").status_code == 302
    assert signals_of(app, "colleague@example.com") == {"same_ip"}
    assert scalar(app, sa.select(sa.func.count(Referral.id))) == 1


def test_a_different_browser_and_address_is_not_flagged(app, make_user):
    code, _ = referrer_seen_at(app, make_user, OFFICE_IP)
    friend = client_at(app, HOME_IP)
    friend.get(f"/r/{code}")
    signup(friend, email="friend@example.com")
    assert signals_of(app, "friend@example.com") == set()


@pytest.mark.parametrize(("days_ago", "flagged"), [(29, True), (31, False)])
def test_shared_ip_counts_only_within_the_attribution_window(
    app, make_user, days_ago, flagged
):
    code, _ = referrer_seen_at(app, make_user, OFFICE_IP)
    with app.app_context():
        db.session.execute(
            sa.update(UserSighting).values(
                last_seen_at=utcnow() - timedelta(days=days_ago)
            )
        )
        db.session.commit()
    signup(client_at(app, OFFICE_IP), email="later@example.com", code=code)
    assert ("same_ip" in signals_of(app, "later@example.com")) is flagged


@pytest.mark.parametrize(
    ("email", "extra", "flagged"),
    [
        ("temp@mailinator.com", "", True),
        ("temp@inbox.mailinator.com", "", True),
        ("temp@throwaway.example", "throwaway.example, other.example", True),
        ("temp@throwaway.example", "", False),
        ("temp@gmail.com", "", False),
        ("temp@mailinator.company.example", "", False),
    ],
)
def test_disposable_domains_come_from_the_package_and_config(
    make_app, make_user, email, extra, flagged
):
    app = make_app(REFERRALS_EXTRA_DISPOSABLE_DOMAINS=extra)
    _, code = make_user()
    assert signup(client_at(app, HOME_IP), email=email, code=code).status_code == 302
    assert ("disposable_email" in signals_of(app, email)) is flagged


def test_many_signups_from_one_ip_trip_the_velocity_signal(make_app, make_user):
    app = make_app(REFERRALS_VELOCITY_MAX_PER_IP=2)
    codes = [make_user(f"ref{n}@example.com", f"Ref{n}")[1] for n in range(3)]
    for n, code in enumerate(codes):
        signup(client_at(app, OFFICE_IP), email=f"farm{n}@example.com", code=code)
    assert "ip_velocity" not in signals_of(app, "farm1@example.com")
    assert "ip_velocity" in signals_of(app, "farm2@example.com")


def test_many_signups_for_one_referrer_trip_the_velocity_signal(make_app, make_user):
    app = make_app(REFERRALS_VELOCITY_MAX_PER_REFERRER=2)
    _, code = make_user()
    for n in range(3):
        signup(client_at(app, f"192.0.2.{n + 1}"), email=f"p{n}@example.com", code=code)
    assert signals_of(app, "p1@example.com") == set()
    assert signals_of(app, "p2@example.com") == {"referrer_velocity"}


def _referral_id(app, email="bob@example.com"):
    return scalar(
        app,
        sa.select(Referral.id)
        .join(User, User.id == Referral.referred_id)
        .where(User.email == email),
    )


def test_flag_referral_is_idempotent_and_adds_new_signals(app, make_user):
    _, code = make_user()
    signup(client_at(app, HOME_IP), code=code)
    referral_id = _referral_id(app)
    with app.app_context():
        assert len(fraud.flag_referral(referral_id, ["same_ip"])) == 1
        assert fraud.flag_referral(referral_id, ["same_ip"]) == []
        assert len(fraud.flag_referral(referral_id, ["same_ip", "own_email"])) == 1
    assert signals_of(app, "bob@example.com") == {"same_ip", "own_email"}
    events = scalar(app, sa.select(sa.func.count(ReferralFlagEvent.id)))
    assert events == 2  # one per change, none for the repeat


def test_unknown_signal_name_is_refused(app, make_user):
    _, code = make_user()
    signup(client_at(app, HOME_IP), code=code)
    with app.app_context(), pytest.raises(ValueError):
        fraud.flag_referral(_referral_id(app), ["made_up"])


def test_signed_in_user_cannot_sign_up_again(app, make_user):
    make_user()
    client = app.test_client()
    login(client, "ann@example.com")
    response = client.post(
        "/signup",
        data={"name": "Ann2", "email": "ann2@example.com", "password": "x" * 12},
        follow_redirects=True,
    )
    assert "cannot create another account" in response.get_data(as_text=True)
    assert scalar(app, sa.select(sa.func.count(User.id))) == 1


@pytest.mark.parametrize(
    ("email", "refused"),
    [
        ("a.nn+again@example.com", False),  # dots matter outside Gmail: not Ann
        ("ann+again@example.com", True),  # Ann, referred by someone she referred
        ("carl@example.com", False),
    ],
)
def test_referral_loop_is_refused_with_a_message(app, make_user, email, refused):
    _, ann_code = make_user("ann@example.com", "Ann")
    _, bob_code = make_user("bob@example.com", "Bob", code=ann_code)
    _, cat_code = make_user("cat@example.com", "Cat", code=bob_code)
    response = signup(client_at(app, HOME_IP), email=email, code=cat_code)
    users = scalar(app, sa.select(sa.func.count(User.id)))
    if refused:
        assert response.status_code == 400
        assert "someone you referred" in response.get_data(as_text=True)
        assert users == 3
    else:
        assert response.status_code == 302 and users == 4


@pytest.fixture
def flagged(app, make_user):
    """A referral flagged as own_email, and a signed-in admin's client."""
    make_user("boss@example.com", "Boss", admin=True)
    _, code = make_user("john.smith@gmail.com", "John")
    signup(client_at(app, HOME_IP), email="johnsmith+x@gmail.com", code=code)
    admin = app.test_client()
    login(admin, "boss@example.com")
    return _referral_id(app, "johnsmith+x@gmail.com"), admin


def test_admin_fraud_page_lists_flagged_referrals_with_reasons(app, flagged):
    referral_id, admin = flagged
    page = admin.get("/admin/fraud").get_data(as_text=True)
    assert f"Referral #{referral_id}" in page
    assert "own_email" in page and "Same mailbox as the referrer" in page
    assert f'name="referral_ids" value="{referral_id}"' in page


@pytest.mark.parametrize(
    ("decision", "status"),
    [("clear", ReviewStatus.CLEARED), ("confirm", ReviewStatus.CONFIRMED)],
)
def test_admin_decision_is_recorded_with_who_and_why(app, flagged, decision, status):
    referral_id, admin = flagged
    received = []

    def listener(sender, **kwargs):
        received.append(kwargs)

    with signals.referral_review_decided.connected_to(listener, sender=app):
        response = admin.post(
            f"/admin/fraud/{referral_id}/{decision}", data={"reason": "checked ID"}
        )
    assert response.status_code == 302
    assert scalar(app, sa.select(Referral.review_status)) == status
    event = scalar(
        app, sa.select(ReferralFlagEvent).order_by(ReferralFlagEvent.id.desc())
    )
    boss = scalar(app, sa.select(User.id).where(User.email == "boss@example.com"))
    assert (event.action, event.actor_id, event.reason) == (
        FlagAction(status.value),
        boss,
        "checked ID",
    )
    assert received == [
        {
            "referral_id": referral_id,
            "decision": status,
            "admin_id": boss,
            "reason": "checked ID",
        }
    ]
    history = admin.get(f"/admin/fraud?status={status.value}").get_data(as_text=True)
    assert "by Boss: checked ID" in history


def test_a_decision_needs_a_reason_and_happens_once(app, flagged):
    referral_id, admin = flagged
    admin.post(f"/admin/fraud/{referral_id}/clear", data={"reason": "  "})
    assert scalar(app, sa.select(Referral.review_status)) == ReviewStatus.FLAGGED
    admin.post(f"/admin/fraud/{referral_id}/clear", data={"reason": "fine"})
    response = admin.post(
        f"/admin/fraud/{referral_id}/confirm",
        data={"reason": "changed my mind"},
        follow_redirects=True,
    )
    assert "not waiting for a review" in response.get_data(as_text=True)
    assert scalar(app, sa.select(Referral.review_status)) == ReviewStatus.CLEARED


def test_unknown_referral_decision_is_404(app, flagged):
    _, admin = flagged
    assert (
        admin.post("/admin/fraud/9999/clear", data={"reason": "x"}).status_code == 404
    )
    assert admin.get("/admin/fraud?status=bogus").status_code == 404


def test_non_admins_get_403_on_fraud_pages(app, flagged):
    referral_id, _ = flagged
    user = app.test_client()
    login(user, "john.smith@gmail.com")
    assert user.get("/admin/fraud").status_code == 403
    response = user.post(f"/admin/fraud/{referral_id}/clear", data={"reason": "me"})
    assert response.status_code == 403
    assert scalar(app, sa.select(Referral.review_status)) == ReviewStatus.FLAGGED
    assert app.test_client().get("/admin/fraud").status_code == 302  # to login


def test_service_refuses_decisions_by_non_admins(app, flagged):
    referral_id, _ = flagged
    john = scalar(app, sa.select(User.id).where(User.email == "john.smith@gmail.com"))
    with app.app_context(), pytest.raises(fraud.ReviewError, match="Only an admin"):
        fraud.clear_flag(referral_id, admin_id=john, reason="mine")


def test_review_forms_reject_a_missing_csrf_token(make_app, make_user):
    app = make_app(WTF_CSRF_ENABLED=True)
    make_user("boss@example.com", "Boss", admin=True)
    _, code = make_user("john.smith@gmail.com", "John")
    referral_owner = client_at(app, HOME_IP)
    page = referral_owner.get("/signup").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    referral_owner.post(
        "/signup",
        data={
            "csrf_token": token,
            "name": "J",
            "email": "johnsmith+x@gmail.com",
            "password": "correct horse battery",
            "referral_code": code,
        },
    )
    referral_id = _referral_id(app, "johnsmith+x@gmail.com")
    admin = app.test_client()
    login_page = admin.get("/login").get_data(as_text=True)
    token = login_page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    admin.post(
        "/login",
        data={
            "csrf_token": token,
            "email": "boss@example.com",
            "password": "correct horse battery",
        },
    )
    response = admin.post(f"/admin/fraud/{referral_id}/clear", data={"reason": "ok"})
    assert response.status_code == 400
    assert scalar(app, sa.select(Referral.review_status)) == ReviewStatus.FLAGGED


def test_sightings_store_only_hashes_and_random_ids(app, make_user):
    referrer_seen_at(app, make_user, OFFICE_IP)
    rows = query(app, sa.select(UserSighting.kind, UserSighting.value))
    assert {row.kind for row in rows} == {SightingKind.DEVICE, SightingKind.IP}
    assert all(OFFICE_IP not in row.value for row in rows)


@pytest.mark.parametrize(
    ("email", "refused"),
    [
        ("ann@example.com", True),  # Ann again, after deleting her account
        ("Ann+new@Example.com", True),
        ("anne@example.com", False),
    ],
)
def test_a_deleted_referrer_cannot_rejoin_under_someone_they_referred(
    app, make_user, email, refused
):
    ann_id, ann_code = make_user("ann@example.com", "Ann")
    _, bob_code = make_user("bob@example.com", "Bob", code=ann_code)
    with app.app_context():
        account.delete_account(ann_id, password=PASSWORD)
    response = signup(client_at(app, HOME_IP), email=email, code=bob_code)
    if refused:
        assert response.status_code == 400
        assert "someone you referred" in response.get_data(as_text=True)
    else:
        assert response.status_code == 302
    stored = scalar(
        app,
        sa.select(ReferralAccount.deleted_mailbox_digest).where(
            ReferralAccount.user_id == ann_id
        ),
    )
    assert stored and "ann" not in stored  # a keyed hash, not the address


def test_a_flagged_signup_is_announced_after_it_commits(app, make_user):
    _, code = make_user("john.smith@gmail.com", "John")
    received = []

    def listener(sender, **kwargs):
        received.append((kwargs, _referral_id(app, "johnsmith+x@gmail.com")))

    with signals.referral_flagged.connected_to(listener, sender=app):
        signup(client_at(app, HOME_IP), email="johnsmith+x@gmail.com", code=code)
    [(announced, stored_id)] = received
    assert announced["referral_id"] == stored_id  # committed when announced
    assert announced["signals"] == ["own_email"]
