"""Flags reach the rewards: scoring at conversion and refund, and admin decisions.

The tests run on both hosts (tests/hosts.py), the site and the bookshop.
"""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from referral_site.referrals.fraud import review as fraud
from referral_site.referrals.fraud.models import ReferralSignalRecord, SignalStage
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.storage.models import (
    Referral,
    ReviewStatus,
    RewardStatus,
    utcnow,
)
from tests.conftest import query, scalar
from tests.reward_helpers import (
    AUTH,
    conversion_body,
    days_ago,
    post_conversion,
    referred_pair,
    rewards_of,
)


def process_rewards_after(app, days: int):
    """Run process-rewards as if `days` had passed (the default hold is 14 days)."""
    with app.app_context():
        return rewards.process_rewards(now=utcnow() + timedelta(days=days))


def statuses(app) -> set[RewardStatus]:
    return {row[4] for row in rewards_of(app)}


def review_status(app) -> ReviewStatus:
    return scalar(app, sa.select(Referral.review_status))


def conversion_signals(app) -> set[str]:
    rows = query(
        app,
        sa.select(ReferralSignalRecord.name).where(
            ReferralSignalRecord.stage == SignalStage.CONVERSION
        ),
    )
    return {row.name.value for row in rows}


def _build(make_host, **settings):
    """This test's host with settings: (the host, its app, its make_user)."""
    host = make_host(**settings)
    return host, host.app, host.users


@pytest.fixture
def flagged(make_host):
    """Bob referred by Ann, flagged, then converted: both rewards wait for review."""
    _, app, make_user = _build(make_host)
    referral_admin, _ = make_user("boss@example.com", "Boss", admin=True)
    referred_pair(make_user)
    referral_id = scalar(app, sa.select(Referral.id))
    with app.app_context():
        fraud.flag_referral(referral_id, ["same_ip"])
    assert post_conversion(app.test_client(), **conversion_body()).status_code == 201
    return app, referral_id, referral_admin


def test_confirmed_abuse_rejects_the_unpaid_rewards(flagged):
    app, referral_id, admin_id = flagged
    with app.app_context():
        fraud.confirm_flag(referral_id, admin_id=admin_id, reason="same household")
    assert statuses(app) == {RewardStatus.REJECTED}


def test_a_flagged_referrals_rewards_go_to_review_after_the_hold(flagged):
    app, _, _ = flagged
    process_rewards_after(app, days=15)
    assert statuses(app) == {RewardStatus.REVIEW}


def test_a_cleared_flag_lets_the_rewards_follow_the_rules(flagged):
    app, referral_id, admin_id = flagged
    process_rewards_after(app, days=15)  # flagged: both wait in review
    with app.app_context():
        fraud.clear_flag(referral_id, admin_id=admin_id, reason="checked: two people")
    assert statuses(app) == {RewardStatus.PENDING}
    process_rewards_after(app, days=15)
    assert statuses(app) == {RewardStatus.APPROVED}


def test_the_conversion_api_is_rate_limited(make_host):
    _, app, make_user = _build(make_host, REFERRALS_RATELIMIT_API="3 per minute")
    referred_pair(make_user)
    client = app.test_client()
    statuses = [
        post_conversion(client, **conversion_body(external_id=f"ch_{n}")).status_code
        for n in range(4)
    ]
    assert statuses == [201, 201, 201, 429]
    limited = post_conversion(client, **conversion_body(external_id="ch_9"))
    assert limited.status_code == 429
    assert limited.is_json
    assert 1 <= limited.json["retry_after"] <= 61  # one minute, rounded up
    assert 1 <= int(limited.headers["Retry-After"]) <= 61


def _refund(client, external_id="ch_1"):
    prefix = client.application.config["REFERRALS_URL_PREFIX"]
    return client.post(f"{prefix}/api/conversions/{external_id}/refund", headers=AUTH)


@pytest.mark.parametrize(
    ("days_before_refund", "flagged"),
    [(3, True), (13.9, True), (14.1, False), (40, False)],
)
def test_a_refund_through_the_api_soon_after_the_purchase_flags_the_referral(
    make_host, days_before_refund, flagged
):
    _, app, make_user = _build(make_host)
    referred_pair(make_user)
    client = app.test_client()
    bought = days_ago(days_before_refund).isoformat()
    assert (
        post_conversion(client, **conversion_body(occurred_at=bought)).status_code
        == 201
    )
    assert _refund(client).status_code == 200
    assert ("refunded_soon" in conversion_signals(app)) is flagged
    expected = ReviewStatus.FLAGGED if flagged else ReviewStatus.CLEAR
    assert review_status(app) == expected


def test_a_quick_refund_sends_the_referrals_other_approved_rewards_to_review(
    make_host,
):
    rules = [
        {"name": "welcome", "trigger": "signup", "recipient": "referrer",
         "kind": "credit", "amount": 300, "hold_days": 0},
        {"name": "per-sale", "trigger": "every_conversion", "recipient": "referrer",
         "kind": "credit", "amount": 1000},
    ]  # fmt: skip
    host, app, _ = _build(make_host, REFERRALS_REWARD_RULES=rules)
    _, code = host.make_user("ann")
    host.make_user("bob", code)
    process_rewards_after(app, days=0)
    assert rewards_of(app, rule="welcome")[0][4] == RewardStatus.APPROVED
    client = app.test_client()
    assert post_conversion(client, **conversion_body()).status_code == 201
    assert _refund(client).status_code == 200
    assert review_status(app) == ReviewStatus.FLAGGED
    # The welcome credit waits for an admin again; the sale's own reward is reversed.
    assert rewards_of(app, rule="welcome")[0][4] == RewardStatus.REVIEW
    assert rewards_of(app, rule="per-sale")[0][4] == RewardStatus.REVERSED


def test_a_conversion_is_scored_for_the_referrer_using_the_referred_browser(
    make_host,
):
    host, app, _ = _build(make_host)
    _, code = host.make_user("ann")
    bobs_browser = host.client("203.0.113.50")
    bobs_browser.get(host.url(f"/r/{code}"))
    host.join(bobs_browser, "bob")
    host.sign_out(bobs_browser)
    host.sign_in(bobs_browser, "ann")  # the referrer, on Bob's machine
    bobs_browser.get(host.url("/referrals"))
    assert review_status(app) == ReviewStatus.CLEAR  # signup was clean
    response = post_conversion(app.test_client(), **conversion_body())
    assert response.status_code == 201
    assert conversion_signals(app) == {"same_device", "same_ip"}
    assert review_status(app) == ReviewStatus.FLAGGED
    # Flagged in the conversion's own transaction: its rewards never auto-approve.
    process_rewards_after(app, days=15)
    assert statuses(app) == {RewardStatus.REVIEW}
