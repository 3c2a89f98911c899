"""Shared steps of the webhook tests: endpoints, every event type, counting."""

import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.fraud import review as fraud
from referral_site.referrals.outbox.models import OutboxEvent
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.webhooks import endpoints
from referral_site.referrals.webhooks.models import WebhookAttempt, WebhookEndpoint
from tests.reward_helpers import (
    API_KEY,
    AUTH,
    conversion_body,
    days_ago,
    post_conversion,
    referred_pair,
)

#: Settings of an app whose webhooks may call the tests' receiver on 127.0.0.1.
HOOK_SETTINGS = {
    "REFERRALS_API_KEY": API_KEY,
    "REFERRALS_REWARD_HOLD_DAYS": 0,
    "REFERRALS_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
}


def add_endpoint(app, url: str, types=()) -> tuple[int, str]:
    """A new enabled endpoint; returns its id and secret."""
    with app.app_context():
        endpoint_id = endpoints.create_endpoint(
            endpoints.EndpointFields(url, "test receiver", list(types), True)
        )
        return endpoint_id, secret_of(app, endpoint_id)


def secret_of(app, endpoint_id: int) -> str:
    with app.app_context():
        return db.session.get(WebhookEndpoint, endpoint_id).secret


def every_event_type(app, make_user) -> None:
    """Make the plugin announce each of its event types at least once."""
    admin_id, _ = make_user("boss@example.com", "Boss", admin=True)
    referral_pair = referred_pair(make_user)
    client = app.test_client()
    post_conversion(client, **conversion_body())
    with app.app_context():
        rewards.process_rewards(now=days_ago(-1))
        referral_id = db.session.scalar(
            sa.select(OutboxEvent.payload).where(OutboxEvent.type == "referral.created")
        )["referral_id"]
        fraud.flag_referral(referral_id, ["same_ip"])
        fraud.clear_flag(referral_id, admin_id=admin_id, reason="checked by phone")
    client.post("/api/conversions/ch_1/refund", headers=AUTH)
    return referral_pair


def written(app, types=None) -> list[tuple[str, str, dict]]:
    """(id, type, payload) of the outbox's events."""
    with app.app_context():
        query = sa.select(OutboxEvent.id, OutboxEvent.type, OutboxEvent.payload)
        if types:
            query = query.where(OutboxEvent.type.in_(types))
        return [tuple(row) for row in db.session.execute(query)]


def attempts(app) -> list[WebhookAttempt]:
    with app.app_context():
        rows = db.session.scalars(sa.select(WebhookAttempt).order_by(WebhookAttempt.id))
        return [(a.status_code, a.succeeded, a.response_start) for a in rows]
