"""The plugin behaves the same on the site and on a host unlike it (the bookshop).

Each test runs against both (tests/hosts.py): the site (its own signup pages,
integer keys) and the bookshop (its own registration calling attribute_signup,
UUID string keys, a unique username, a role for admins, its own deletion calling
forget_user, the plugin under a URL prefix), on SQLite and on PostgreSQL.
"""

import json
import re

import sqlalchemy as sa

from referral_site.referrals import record_conversion, refund_conversion
from referral_site.referrals.attribution.services import Referrer, find_referrer
from referral_site.referrals.fraud.models import FraudSignal, ReferralSignalRecord
from referral_site.referrals.outbox.models import OutboxEvent
from referral_site.referrals.storage.models import (
    Referral,
    ReferralAccount,
    ReviewStatus,
    Reward,
    RewardStatus,
    Visit,
)
from tests.hosts import API_KEY, BROWSER, Host


def _referred(host: Host, referrer: str, name: str):
    """A visitor follows the referrer's link and joins as name; their client."""
    return host.referred(referrer, name)


def test_a_link_then_a_signup_is_attributed_once(host):
    host.join(host.app.test_client(), "ann")
    _referred(host, "ann", "bob")
    referral = host.scalar(sa.select(Referral))
    assert (referral.referrer_id, referral.referred_id) == (
        host.user_id("ann"),
        host.user_id("bob"),
    )
    assert host.scalar(sa.select(sa.func.count(Visit.id))) == 1


def test_the_outbox_names_users_by_the_hosts_keys(host):
    host.join(host.app.test_client(), "ann")
    _referred(host, "ann", "bob")
    written = host.scalars(
        sa.select(OutboxEvent.payload)
        .where(OutboxEvent.type.in_(["user.signed_up", "referral.created"]))
        .order_by(OutboxEvent.created_at, OutboxEvent.id)
    )
    ann, bob = host.user_id("ann"), host.user_id("bob")
    referral_id = host.scalar(sa.select(Referral.id))
    assert written == [
        {"user_id": ann, "referral_id": None},
        {"user_id": bob, "referral_id": referral_id},
        {
            "referral_id": referral_id,
            "referrer_id": ann,
            "referred_id": bob,
            "code": host.code("ann"),
        },
    ]


def test_first_touch_keeps_the_first_code(host):
    for name in ("ann", "cat"):
        host.join(host.app.test_client(), name)
    visitor = host.app.test_client()
    for name in ("ann", "cat"):
        visitor.get(host.url(f"/r/{host.code(name)}"), headers=BROWSER)
    host.join(visitor, "bob")
    assert host.scalar(sa.select(Referral.referrer_id)) == host.user_id("ann")


def test_people_following_their_own_link_are_not_clicks(host):
    ann = host.app.test_client()
    host.join(ann, "ann")
    ann.get(host.url(f"/r/{host.code('ann')}"), headers=BROWSER)
    assert host.scalar(sa.select(sa.func.count(Visit.id))) == 0


def test_an_unknown_typed_code_is_refused_and_nothing_written(host):
    response = host.join(host.app.test_client(), "eve", code="ZZZZ9999")
    assert response.status_code == 400
    assert "That referral code does not exist." in response.get_data(as_text=True)
    assert host.scalar(sa.select(sa.func.count(ReferralAccount.user_id))) == 0


def test_a_referral_loop_is_refused(host):
    host.join(host.app.test_client(), "ann")
    _referred(host, "ann", "bob")
    # ann's mailbox (a +tag changes nothing), signing up through bob's link,
    # would close a loop: refused with a message.
    visitor = host.app.test_client()
    visitor.get(host.url(f"/r/{host.code('bob')}"), headers=BROWSER)
    response = host.join(visitor, "ann+again")
    assert response.status_code == 400
    assert "someone you referred" in response.get_data(as_text=True)


def test_the_referrers_device_flags_the_referral(host):
    ann = host.app.test_client()
    host.join(ann, "ann")
    ann.get(host.url("/referrals"), headers=BROWSER)  # seen signed in on this device
    host.sign_out(ann)
    ann.get(host.url(f"/r/{host.code('ann')}"), headers=BROWSER)
    host.join(ann, "annalt")
    with host.app.app_context():
        session = host.app.extensions["referrals"].db.session
        names = set(session.scalars(sa.select(ReferralSignalRecord.name)))
    assert FraudSignal.SAME_DEVICE in names


def test_conversions_grant_both_sides_and_a_refund_reverses_them(host):
    host.join(host.app.test_client(), "ann")
    _referred(host, "ann", "bob")
    with host.app.app_context():
        record_conversion(
            host.user_id("bob"), kind="purchase", amount=5000, external_id="o-1"
        )
    owners = host.scalar(sa.select(sa.func.count(sa.distinct(Reward.user_id))))
    assert owners == 2
    with host.app.app_context():
        refund_conversion("o-1")
    statuses = host.scalar(sa.select(sa.func.count(sa.distinct(Reward.status))))
    assert statuses == 1
    assert host.scalar(sa.select(Reward.status).limit(1)) == RewardStatus.REVERSED


def test_people_see_only_their_own_referrals(host):
    ann = host.app.test_client()
    host.join(ann, "ann")
    cat = host.app.test_client()
    host.join(cat, "cat")
    _referred(host, "ann", "bob")
    assert "bob" in ann.get(host.url("/referrals")).get_data(as_text=True)
    assert "bob" not in cat.get(host.url("/referrals")).get_data(as_text=True)


def test_admin_pages_are_for_admins_only(host):
    ann = host.app.test_client()
    host.join(ann, "ann")
    _referred(host, "ann", "bob")
    for path in ("/admin", "/admin/rewards", "/admin/fraud"):
        assert ann.get(host.url(path)).status_code == 403
    host.make_admin("ann")
    host.sign_in(ann, "ann")
    report = ann.get(host.url("/admin"))
    assert report.status_code == 200 and "ann" in report.get_data(as_text=True)
    referrer = ann.get(host.url(f"/admin/referrers/{host.user_id('ann')}"))
    assert referrer.status_code == 200 and host.code("ann") in referrer.get_data(
        as_text=True
    )


def test_the_data_export_holds_the_users_own_data(host):
    ann = host.app.test_client()
    host.join(ann, "ann")
    _referred(host, "ann", "bob")
    exported = json.loads(ann.get(host.url("/referrals/export")).get_data(as_text=True))
    assert exported["account"]["referral_code"] == host.code("ann")
    assert len(exported["people_you_referred"]) == 1
    assert "bob@example.com" not in json.dumps(exported)


def test_a_forgotten_users_link_is_dead_and_the_counts_stay(host):
    ann = host.app.test_client()
    host.join(ann, "ann")
    code = host.code("ann")
    _referred(host, "ann", "bob")
    assert host.leave(ann).status_code == 302
    visitor = host.app.test_client()
    visitor.get(host.url(f"/r/{code}"), headers=BROWSER)
    assert visitor.get_cookie("ref") is None
    assert host.scalar(sa.select(sa.func.count(Referral.id))) == 1


def test_the_conversions_api_takes_the_hosts_user_ids(host):
    client = host.referring_admin()
    bob = host.user_id("bob")
    response = client.post(
        host.url("/api/conversions"),
        json={
            "user_id": bob,
            "kind": "purchase",
            "amount": 1200,
            "currency": "EUR",
            "external_id": "inv-7",
        },
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    rewarded = sa.select(sa.func.count(Reward.id)).where(Reward.user_id == bob)
    assert host.scalar(rewarded) == 1
    refused = client.post(
        host.url("/api/conversions"), json={}, headers={"Authorization": "x"}
    )
    assert refused.status_code == 401


def test_admins_decide_on_a_flagged_referral(host):
    ann = host.app.test_client()
    host.join(ann, "ann")
    ann.get(host.url("/referrals"), headers=BROWSER)
    host.sign_out(ann)
    ann.get(host.url(f"/r/{host.code('ann')}"), headers=BROWSER)
    host.join(ann, "annalt")  # flagged: ann's own device
    host.join(host.app.test_client(), "boss")
    host.make_admin("boss")
    boss = host.app.test_client()
    host.sign_in(boss, "boss")
    page = boss.get(host.url("/admin/fraud")).get_data(as_text=True)
    assert "annalt" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    referral_id = host.scalar(sa.select(Referral.id))
    response = boss.post(
        host.url(f"/admin/fraud/{referral_id}/confirm"),
        data={"csrf_token": token, "reason": "the referrer's own second account"},
    )
    assert response.status_code == 302
    assert host.scalar(sa.select(Referral.review_status)) == ReviewStatus.CONFIRMED


def test_csv_exports_name_the_hosts_users(host):
    client = host.referring_admin()
    export = client.get(host.url("/admin/export/referrals.csv?range=all"))
    text = export.get_data(as_text=True)
    assert export.status_code == 200 and "bob@example.com" in text
    assert "ann@example.com" in text  # the referrer's address


def test_the_qr_code_carries_the_link(host):
    ann = host.app.test_client()
    host.join(ann, "ann")
    svg = ann.get(host.url("/referrals/qr.svg"))
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"


def test_guessing_codes_is_rate_limited(host):
    guesser = host.app.test_client()
    statuses = [
        guesser.get(host.url(f"/r/NOPE{n:04d}"), headers=BROWSER).status_code
        for n in range(12)
    ]
    assert statuses[:10] == [302] * 10 and statuses[-1] == 429


def test_a_forgotten_referrer_gains_nothing_from_a_stale_cache(host):
    """Another worker still caches the forgotten referrer's code: the signup and
    the conversion that follow credit nobody (issue: a deleted account kept
    earning from the per-worker cache)."""
    ann = host.app.test_client()
    host.join(ann, "ann")
    ann_id, code = host.user_id("ann"), host.code("ann")
    visitor = host.app.test_client()
    visitor.get(
        host.url(f"/r/{code}"), headers=BROWSER
    )  # captured before the forgetting
    host.leave(ann)
    with host.app.test_request_context():
        cache = host.app.extensions["referrals"].code_cache
        cache.put(code, ann_id, Referrer(id=ann_id, code=code))  # a stale worker
        assert find_referrer(code) is not None  # a click would still see it
    # The form shows the captured code with the error; cleared, the person joins.
    assert host.join(visitor, "bob").status_code == 400
    assert host.join(visitor, "bob", code="").status_code == 302
    assert host.scalar(sa.select(sa.func.count(Referral.id))) == 0
    with host.app.app_context():
        record_conversion(
            host.user_id("bob"), kind="purchase", amount=5000, external_id="o-9"
        )
    assert host.scalar(sa.select(sa.func.count(Reward.id))) == 0  # no referral


def test_a_forgotten_referrer_earns_no_reward_from_an_old_referral(host):
    ann = host.app.test_client()
    host.join(ann, "ann")
    _referred(host, "ann", "bob")
    host.leave(ann)
    with host.app.app_context():
        record_conversion(
            host.user_id("bob"), kind="purchase", amount=5000, external_id="o-10"
        )
    owners = set(host.scalars(sa.select(Reward.user_id)))
    assert owners == {host.user_id("bob")}  # bob's own side only
