"""Abuse confirmed after a partial refund of a paid reward: the rest is clawed back.

A refund after payout takes back its share with a negative entry; that entry is not
the clawback of the whole reward, so the console still offers what is left.
"""

import pytest
import sqlalchemy as sa

from referral_site.referrals.fraud import review as fraud
from referral_site.referrals.fraud.evidence import Signal
from referral_site.referrals.fraud.models import FraudSignal
from referral_site.referrals.rewards import engine
from referral_site.referrals.storage.models import Referral, RewardStatus
from tests.billing_helpers import billing_settings, rewards
from tests.conftest import login, scalar
from tests.reward_helpers import referred_pair, reward_ids
from tests.stripe_events import checkout, event, post, refund

PAID, APPROVED = RewardStatus.PAID, RewardStatus.APPROVED


@pytest.fixture
def app(make_app):
    return make_app(**billing_settings())


def _send(app, event_type, obj):
    response = post(app.test_client(), event(event_type, obj))
    assert response.status_code == 200, response.get_json()


def test_the_rest_of_a_partly_refunded_paid_reward_is_offered_and_clawed_back(
    app, make_user
):
    admin_id, _ = make_user("boss@example.com", "Boss", admin=True)
    ann, bob = referred_pair(make_user)
    session = checkout(bob, amount=5000)
    _send(app, "checkout.session.completed", session)
    with app.app_context():
        engine.process_rewards()
        engine.decide(reward_ids(app, APPROVED), "pay", actor_id=admin_id)
    _send(app, "refund.created", refund(session["payment_intent"], 1000))
    share = [r for r in reward_ids(app, PAID)][1]  # the 10% share: 500 paid
    assert rewards(app, ann)[2] == ("adjustment", -100, "USD", APPROVED)
    referral_id = scalar(app, sa.select(Referral.id))
    with app.app_context():
        fraud.flag_referral(referral_id, [Signal(FraudSignal.SAME_IP, "Ann's network")])
    admin = app.test_client()
    login(admin, "boss@example.com")
    done = admin.post(
        "/admin/fraud/decide",
        data={"referral_ids": [referral_id], "reason": "own account", "confirm": "1"},
        follow_redirects=True,
    ).get_data(as_text=True)
    # What is still to claw back: the bonus whole, the share less its refund.
    assert f"#{share} ($4.00)" in done
    confirmed = admin.get("/admin/fraud?status=confirmed").get_data(as_text=True)
    assert confirmed.count("Paid, not clawed back") == 2
    page = admin.get(f"/admin/rewards/{share}").get_data(as_text=True)
    assert "Clawed back" not in page and "Claw back" in page
    admin.post(f"/admin/rewards/{share}/claw-back", data={"reason": "abuse"})
    assert rewards(app, ann)[3] == ("adjustment", -400, "USD", APPROVED)
    page = admin.get(f"/admin/rewards/{share}").get_data(as_text=True)
    assert "Clawed back: the recipient owes this amount back." in page
    confirmed = admin.get("/admin/fraud?status=confirmed").get_data(as_text=True)
    assert confirmed.count("Paid, not clawed back") == 1  # the bonus, still whole
