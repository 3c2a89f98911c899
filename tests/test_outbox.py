"""Every announced change is written to the outbox in its own transaction, once."""

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.fraud import review as fraud
from referral_site.referrals.outbox import consumers
from referral_site.referrals.outbox.models import OutboxEvent
from referral_site.referrals.rewards import engine as rewards
from tests.conftest import signup
from tests.reward_helpers import (
    API_KEY,
    AUTH,
    conversion_body,
    days_ago,
    post_conversion,
    referred_pair,
)


def events(app, type_=None) -> list[tuple[str, dict]]:
    """(type, payload) of the outbox's events, in the order written."""
    with app.app_context():
        query = sa.select(OutboxEvent.type, OutboxEvent.payload).order_by(
            OutboxEvent.created_at, OutboxEvent.id
        )
        if type_:
            query = query.where(OutboxEvent.type == type_)
        return [tuple(row) for row in db.session.execute(query)]


@pytest.fixture
def api_app(make_app):
    return make_app(REFERRALS_API_KEY=API_KEY, REFERRALS_REWARD_HOLD_DAYS=0)


def test_a_referred_signup_writes_its_signup_and_referral(app, make_user):
    ann_id, code = make_user("ann@example.com", "Ann")
    signup(app.test_client(), "bob@example.com", code=code)
    written = events(app)
    assert written[0] == ("user.signed_up", {"user_id": ann_id, "referral_id": None})
    (_, bob), (_, referral) = written[1:]
    assert bob == {"user_id": ann_id + 1, "referral_id": referral["referral_id"]}
    assert referral == {
        "referral_id": bob["referral_id"],
        "referrer_id": ann_id,
        "referred_id": ann_id + 1,
        "code": code,
    }


def test_a_refused_signup_writes_no_event(app, make_user):
    make_user("ann@example.com", "Ann")
    before = events(app)
    signup(app.test_client(), "bob@example.com", code="NOSUCHCODE")
    signup(app.test_client(), "ann@example.com")
    assert events(app) == before


def test_conversions_refunds_and_rewards_are_written(api_app, make_user):
    ann_id, bob_id = referred_pair(make_user)
    client = api_app.test_client()
    assert post_conversion(client, **conversion_body()).status_code == 201
    assert post_conversion(client, **conversion_body()).status_code == 200  # replay
    ((_, recorded),) = events(api_app, "conversion.recorded")
    assert recorded == {
        "conversion_id": recorded["conversion_id"],
        "user_id": bob_id,
        "referrer_id": ann_id,
        "kind": "purchase",
        "amount_minor": 4999,
        "currency": "USD",
        "external_id": "ch_1",
    }
    created = [payload for _, payload in events(api_app, "reward.created")]
    assert {(p["user_id"], p["amount_minor"], p["status"]) for p in created} == {
        (ann_id, 1000, "pending"),
        (bob_id, 500, "pending"),
    }
    client.post("/api/conversions/ch_1/refund", headers=AUTH)
    client.post("/api/conversions/ch_1/refund", headers=AUTH)
    ((_, refunded),) = events(api_app, "conversion.refunded")
    assert refunded["referrer_id"] == ann_id and refunded["amount_minor"] == 4999
    moves = {
        (p["old_status"], p["new_status"])
        for _, p in events(api_app, "reward.status_changed")
    }
    assert moves == {("pending", "reversed")}


def test_processing_and_reviews_write_status_changes(api_app, make_user, admin):
    ann_id, bob_id = referred_pair(make_user)
    post_conversion(api_app.test_client(), **conversion_body())
    with api_app.app_context():
        rewards.process_rewards(now=days_ago(-1))
        referral_id = events(api_app, "referral.created")[0][1]["referral_id"]
        fraud.flag_referral(referral_id, ["same_ip"])
        admin_id = events(api_app, "user.signed_up")[0][1]["user_id"]  # boss
        fraud.confirm_flag(referral_id, admin_id=admin_id, reason="one person")
    moves = [p for _, p in events(api_app, "reward.status_changed")]
    assert [(m["old_status"], m["new_status"]) for m in moves] == [
        ("pending", "approved"),
        ("pending", "approved"),
        ("approved", "review"),
        ("approved", "review"),
        ("review", "rejected"),
        ("review", "rejected"),
    ]
    ((_, flagged),) = events(api_app, "referral.flagged")
    assert flagged == {
        "referral_id": referral_id,
        "referrer_id": ann_id,
        "referred_id": bob_id,
        "signals": ["same_ip"],
    }
    ((_, decided),) = events(api_app, "referral.review_decided")
    assert decided == {
        "referral_id": referral_id,
        "referrer_id": ann_id,
        "decision": "confirmed",
        "reason": "one person",
    }


def test_an_event_envelope_is_versioned_json(app, make_user):
    make_user()
    with app.app_context():
        row = db.session.scalar(sa.select(OutboxEvent))
        event = consumers.Event(row.id, row.type, row.payload, row.created_at)
    envelope = event.envelope()
    assert envelope["id"].startswith("evt_") and len(envelope["id"]) == 28
    assert envelope["version"] == 1 and envelope["type"] == "user.signed_up"
    assert envelope["created_at"].endswith("Z")
    assert envelope["data"] == row.payload
