"""Fraud signals at signup and conversion, hard rules, and the admin's flag review.

The tests run on both hosts (tests/hosts.py), the site and the bookshop, but for
the site's own signup form refusing the signed-in and checking CSRF.
"""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from referral_site.models import User
from referral_site.referrals import signals
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
from tests.conftest import login, scalar
from tests.hosts import Host

OFFICE_IP = "198.51.100.7"
HOME_IP = "203.0.113.50"


def signals_of(host: Host, name: str) -> set[str]:
    """The signal names stored on the referral of the user called name."""
    rows = host.scalars(
        sa.select(ReferralSignalRecord.name)
        .join(Referral, Referral.id == ReferralSignalRecord.referral_id)
        .where(Referral.referred_id == host.user_id(name))
    )
    return {row.value for row in rows}


def review_of(host: Host, name: str):
    return host.scalar(
        sa.select(Referral.review_status).where(
            Referral.referred_id == host.user_id(name)
        )
    )


def referrer_seen_at(host: Host, ip, email="john.smith@gmail.com"):
    """A referrer (john) signed in from `ip` in their own browser: code, client."""
    browser = host.person("john", email=email, ip=ip)
    browser.get(host.url("/referrals"))  # a signed-in page: device and IP are noted
    return host.code("john"), browser


def _join(host: Host, name: str, code=None, *, email=None, ip=HOME_IP):
    """Someone joins as name from a browser of their own at ip."""
    return host.join(host.client(ip), name, code, email)


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


def test_own_email_in_another_spelling_is_flagged_not_refused(host: Host):
    _, code = host.make_user("john", email="john.smith@gmail.com")
    response = _join(host, "johnx", code, email="johnsmith+x@googlemail.com")
    assert response.status_code == 302  # the account exists: soft signal
    assert signals_of(host, "johnx") == {"own_email"}
    assert review_of(host, "johnx") == ReviewStatus.FLAGGED


def test_a_similar_but_different_email_is_not_flagged(host: Host):
    _, code = host.make_user("john", email="john.smith@gmail.com")
    _join(host, "john2", code, email="johnsmith2@gmail.com")
    assert signals_of(host, "john2") == set()
    assert review_of(host, "john2") == ReviewStatus.CLEAR


def test_signup_from_the_referrers_own_browser_is_flagged(host: Host):
    code, browser = referrer_seen_at(host, OFFICE_IP)
    host.sign_out(browser)
    browser.get(host.url(f"/r/{code}"))  # signed out: the same browser follows it
    assert host.join(browser, "second").status_code == 302
    assert signals_of(host, "second") == {"same_device", "same_ip"}


def test_two_people_behind_one_office_ip_are_flagged_never_blocked(host: Host):
    code, _ = referrer_seen_at(host, OFFICE_IP)
    colleague = host.client(OFFICE_IP)  # another browser, same address
    colleague.get(host.url(f"/r/{code}"))
    assert host.join(colleague, "colleague").status_code == 302
    assert signals_of(host, "colleague") == {"same_ip"}
    assert host.count(Referral.id) == 1


def test_a_different_browser_and_address_is_not_flagged(host: Host):
    code, _ = referrer_seen_at(host, OFFICE_IP)
    friend = host.client(HOME_IP)
    friend.get(host.url(f"/r/{code}"))
    host.join(friend, "friend")
    assert signals_of(host, "friend") == set()


@pytest.mark.parametrize(("days_ago", "flagged"), [(29, True), (31, False)])
def test_shared_ip_counts_only_within_the_attribution_window(
    host: Host, days_ago, flagged
):
    code, _ = referrer_seen_at(host, OFFICE_IP)
    with host.session() as session:
        session.execute(
            sa.update(UserSighting).values(
                last_seen_at=utcnow() - timedelta(days=days_ago)
            )
        )
        session.commit()
    _join(host, "later", code, ip=OFFICE_IP)
    assert ("same_ip" in signals_of(host, "later")) is flagged


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
    make_host, email, extra, flagged
):
    host = make_host(REFERRALS_EXTRA_DISPOSABLE_DOMAINS=extra)
    _, code = host.make_user()
    assert _join(host, "temp", code, email=email).status_code == 302
    assert ("disposable_email" in signals_of(host, "temp")) is flagged


def test_many_signups_from_one_ip_trip_the_velocity_signal(make_host):
    host = make_host(REFERRALS_VELOCITY_MAX_PER_IP=2)
    codes = [host.make_user(f"ref{n}")[1] for n in range(3)]
    for n, code in enumerate(codes):
        _join(host, f"farm{n}", code, ip=OFFICE_IP)
    assert "ip_velocity" not in signals_of(host, "farm1")
    assert "ip_velocity" in signals_of(host, "farm2")


def test_many_signups_for_one_referrer_trip_the_velocity_signal(make_host):
    host = make_host(REFERRALS_VELOCITY_MAX_PER_REFERRER=2)
    _, code = host.make_user()
    for n in range(3):
        _join(host, f"p{n}", code, ip=f"192.0.2.{n + 1}")
    assert signals_of(host, "p1") == set()
    assert signals_of(host, "p2") == {"referrer_velocity"}


def _referral_id(host: Host, name="bob"):
    return host.scalar(
        sa.select(Referral.id).where(Referral.referred_id == host.user_id(name))
    )


def test_flag_referral_is_idempotent_and_adds_new_signals(host: Host):
    _, code = host.make_user()
    _join(host, "bob", code)
    referral_id = _referral_id(host)
    with host.app.app_context():
        assert len(fraud.flag_referral(referral_id, ["same_ip"])) == 1
        assert fraud.flag_referral(referral_id, ["same_ip"]) == []
        assert len(fraud.flag_referral(referral_id, ["same_ip", "own_email"])) == 1
    assert signals_of(host, "bob") == {"same_ip", "own_email"}
    assert host.count(ReferralFlagEvent.id) == 2  # one per change, none for the repeat


def test_unknown_signal_name_is_refused(host: Host):
    _, code = host.make_user()
    _join(host, "bob", code)
    with host.app.app_context(), pytest.raises(ValueError):
        fraud.flag_referral(_referral_id(host), ["made_up"])


@pytest.mark.parametrize(
    ("name", "email", "refused"),
    [
        ("a.nn", "a.nn+again@example.com", False),  # dots matter outside Gmail
        ("annagain", "ann+again@example.com", True),  # Ann, referred by her referral
        ("carl", "carl@example.com", False),
    ],
)
def test_referral_loop_is_refused_with_a_message(host: Host, name, email, refused):
    _, ann_code = host.make_user("ann")
    _, bob_code = host.make_user("bob", ann_code)
    _, cat_code = host.make_user("cat", bob_code)
    response = _join(host, name, cat_code, email=email)
    accounts = host.count(ReferralAccount.user_id)
    if refused:
        assert response.status_code == 400
        assert "someone you referred" in response.get_data(as_text=True)
        assert accounts == 3
    else:
        assert response.status_code == 302 and accounts == 4


@pytest.fixture
def flagged(host: Host):
    """A referral flagged as own_email, and a signed-in admin's (boss's) client."""
    admin = host.admin("boss")
    _, code = host.make_user("john", email="john.smith@gmail.com")
    _join(host, "johnx", code, email="johnsmith+x@gmail.com")
    return _referral_id(host, "johnx"), admin


def _decide(host: Host, admin, referral_id, decision, reason, **kwargs):
    """An admin's decision, posted from the fraud queue's form."""
    page = admin.get(host.url("/admin/fraud")).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    return admin.post(
        host.url(f"/admin/fraud/{referral_id}/{decision}"),
        data={"csrf_token": token, "reason": reason},
        **kwargs,
    )


def test_admin_fraud_page_lists_flagged_referrals_with_reasons(host: Host, flagged):
    referral_id, admin = flagged
    page = admin.get(host.url("/admin/fraud")).get_data(as_text=True)
    assert f"Referral #{referral_id}" in page
    assert "own_email" in page and "Same mailbox as the referrer" in page
    assert f'name="referral_ids" value="{referral_id}"' in page


@pytest.mark.parametrize(
    ("decision", "status"),
    [("clear", ReviewStatus.CLEARED), ("confirm", ReviewStatus.CONFIRMED)],
)
def test_admin_decision_is_recorded_with_who_and_why(
    host: Host, flagged, decision, status
):
    referral_id, admin = flagged
    received = []

    def listener(sender, **kwargs):
        received.append(kwargs)

    with signals.referral_review_decided.connected_to(listener, sender=host.app):
        response = _decide(host, admin, referral_id, decision, "checked ID")
    assert response.status_code == 302
    assert host.scalar(sa.select(Referral.review_status)) == status
    event = host.scalar(
        sa.select(ReferralFlagEvent).order_by(ReferralFlagEvent.id.desc())
    )
    boss = host.user_id("boss")
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
    history = admin.get(host.url(f"/admin/fraud?status={status.value}"))
    assert "by boss: checked ID" in history.get_data(as_text=True)


def test_a_decision_needs_a_reason_and_happens_once(host: Host, flagged):
    referral_id, admin = flagged
    _decide(host, admin, referral_id, "clear", "  ")
    assert host.scalar(sa.select(Referral.review_status)) == ReviewStatus.FLAGGED
    _decide(host, admin, referral_id, "clear", "fine")
    response = _decide(
        host, admin, referral_id, "confirm", "changed my mind", follow_redirects=True
    )
    assert "not waiting for a review" in response.get_data(as_text=True)
    assert host.scalar(sa.select(Referral.review_status)) == ReviewStatus.CLEARED


def test_unknown_referral_decision_is_404(host: Host, flagged):
    _, admin = flagged
    assert _decide(host, admin, 9999, "clear", "x").status_code == 404
    assert admin.get(host.url("/admin/fraud?status=bogus")).status_code == 404


def test_non_admins_get_403_on_fraud_pages(host: Host, flagged):
    referral_id, _ = flagged
    user = host.client()
    host.sign_in(user, "john")
    assert user.get(host.url("/admin/fraud")).status_code == 403
    response = user.post(
        host.url(f"/admin/fraud/{referral_id}/clear"), data={"reason": "me"}
    )
    assert response.status_code == 403
    assert host.scalar(sa.select(Referral.review_status)) == ReviewStatus.FLAGGED
    signed_out = host.client().get(host.url("/admin/fraud"))
    assert signed_out.status_code == host.signed_out_status


def test_service_refuses_decisions_by_non_admins(host: Host, flagged):
    referral_id, _ = flagged
    john = host.user_id("john")
    with (
        host.app.app_context(),
        pytest.raises(fraud.ReviewError, match="Only an admin"),
    ):
        fraud.clear_flag(referral_id, admin_id=john, reason="mine")


def test_sightings_store_only_hashes_and_random_ids(host: Host):
    referrer_seen_at(host, OFFICE_IP)
    rows = host.rows(sa.select(UserSighting.kind, UserSighting.value))
    assert {kind for kind, _ in rows} == {SightingKind.DEVICE, SightingKind.IP}
    assert all(OFFICE_IP not in value for _, value in rows)


@pytest.mark.parametrize(
    ("email", "refused"),
    [
        ("ann@example.com", True),  # Ann again, after deleting her account
        ("Ann+new@Example.com", True),
        ("anne@example.com", False),
    ],
)
def test_a_deleted_referrer_cannot_rejoin_under_someone_they_referred(
    host: Host, email, refused
):
    ann = host.person("ann")
    ann_id, ann_code = host.user_id("ann"), host.code("ann")
    _, bob_code = host.make_user("bob", ann_code)
    assert host.leave(ann).status_code == 302  # the host's own deletion
    response = _join(host, "again", bob_code, email=email)
    if refused:
        assert response.status_code == 400
        assert "someone you referred" in response.get_data(as_text=True)
    else:
        assert response.status_code == 302
    stored = host.scalar(
        sa.select(ReferralAccount.deleted_mailbox_digest).where(
            ReferralAccount.user_id == ann_id
        )
    )
    assert stored and "ann" not in stored  # a keyed hash, not the address


def test_a_flagged_signup_is_announced_after_it_commits(host: Host):
    _, code = host.make_user("john", email="john.smith@gmail.com")
    received = []

    def listener(sender, **kwargs):
        received.append((kwargs, _referral_id(host, "johnx")))

    with signals.referral_flagged.connected_to(listener, sender=host.app):
        _join(host, "johnx", code, email="johnsmith+x@gmail.com")
    [(announced, stored_id)] = received
    assert announced["referral_id"] == stored_id  # committed when announced
    assert announced["signals"] == ["own_email"]


def client_at(app, ip):
    """A browser of its own (own cookies) coming from one IP address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def _site_referral_id(app, email):
    return scalar(
        app,
        sa.select(Referral.id)
        .join(User, User.id == Referral.referred_id)
        .where(User.email == email),
    )


# The site's own signup form: it refuses a signed-in person, and its forms and the
# plugin's check CSRF tokens when the site turns them on (the bookshop's forms
# always check theirs: every review above on the bookshop posts its token).
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
    referral_id = _site_referral_id(app, "johnsmith+x@gmail.com")
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
