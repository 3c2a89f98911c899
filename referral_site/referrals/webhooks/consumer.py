"""The webhooks' outbox consumer: one delivery row per event and subscribed endpoint."""

import sqlalchemy as sa

from referral_site.referrals.outbox import consumers
from referral_site.referrals.storage.models import utcnow
from referral_site.referrals.storage.transactions import write_transaction
from referral_site.referrals.webhooks.models import WebhookDelivery, WebhookEndpoint

#: The consumer's name, which keys its progress in the outbox.
NAME = "webhooks"


def queue_deliveries(event: consumers.Event) -> None:
    """Queue the event for every enabled endpoint that wants its type, once each."""
    now = utcnow()
    with write_transaction() as session:
        endpoints = session.scalars(
            sa.select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
        ).all()
        wanted = {endpoint.id for endpoint in endpoints if endpoint.wants(event.type)}
        if not wanted:
            return
        # A second run (after a crash) finds the rows the first one committed.
        queued = set(
            session.scalars(
                sa.select(WebhookDelivery.endpoint_id).where(
                    WebhookDelivery.event_id == event.id
                )
            )
        )
        rows = [
            {"endpoint_id": endpoint_id, "event_id": event.id, "due_at": now}
            for endpoint_id in sorted(wanted - queued)
        ]
        if rows:
            session.execute(sa.insert(WebhookDelivery), rows)


consumers.register(NAME, queue_deliveries)
