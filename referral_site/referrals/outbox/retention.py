"""Forgetting old events once every consumer and webhook is done with them."""

from datetime import timedelta

import sqlalchemy as sa

from referral_site.referrals.outbox.models import OutboxEvent, OutboxProgress
from referral_site.referrals.storage.models import utcnow
from referral_site.referrals.storage.transactions import write_transaction

#: Events deleted per transaction.
BATCH = 2000


def purge_events(days: int) -> int:
    """Delete events older than ``days`` that nothing will run again; how many.

    An event still due for a consumer, or with a webhook delivery still pending,
    stays whatever its age. Its progress, deliveries and their attempts go with it
    (deleted here, not left to ON DELETE CASCADE, which SQLite only honours with
    foreign keys on).
    """
    from referral_site.referrals.webhooks.models import (
        DeliveryStatus,
        WebhookAttempt,
        WebhookDelivery,
    )

    cutoff = utcnow() - timedelta(days=days)
    unfinished = sa.or_(
        sa.exists().where(
            OutboxProgress.event_id == OutboxEvent.id,
            OutboxProgress.due_at.is_not(None),
        ),
        sa.exists().where(
            WebhookDelivery.event_id == OutboxEvent.id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        ),
    )
    total = 0
    while True:
        with write_transaction() as session:
            ids = list(
                session.scalars(
                    sa.select(OutboxEvent.id)
                    .where(
                        OutboxEvent.created_at < cutoff,
                        OutboxEvent.fanned_out_at.is_not(None),
                        ~unfinished,
                    )
                    .limit(BATCH)
                )
            )
            deliveries = sa.select(WebhookDelivery.id).where(
                WebhookDelivery.event_id.in_(ids)
            )
            for statement in (
                sa.delete(WebhookAttempt).where(
                    WebhookAttempt.delivery_id.in_(deliveries)
                ),
                sa.delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(ids)),
                sa.delete(OutboxProgress).where(OutboxProgress.event_id.in_(ids)),
                sa.delete(OutboxEvent).where(OutboxEvent.id.in_(ids)),
            ):
                session.execute(statement.execution_options(synchronize_session=False))
        total += len(ids)
        if len(ids) < BATCH:
            return total
