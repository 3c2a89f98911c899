"""Receiving one webhook delivery: verify, store once, handle once."""

from dataclasses import dataclass

from flask import current_app

from referral_site.referrals.billing import handling, signature, store
from referral_site.referrals.billing.models import Outcome


@dataclass(frozen=True)
class Received:
    """What the endpoint answers: the event, whether another delivery has it
    (handled, or being handled), and the outcome."""

    stripe_id: str
    duplicate: bool
    outcome: Outcome
    reason: str = ""


def receive(payload: bytes, header: str | None) -> Received:
    """Take a webhook body: WebhookRefused when it is not a good Stripe event.

    The event is stored once by its id; of deliveries racing each other (or a
    replay), the one that claims it handles it and the others answer duplicate.
    """
    config = current_app.config
    secrets = signature.secrets_of(config["REFERRALS_STRIPE_WEBHOOK_SECRET"])
    event = signature.verified_event(payload, header, secrets)
    store.check_shape(event, livemode=config["REFERRALS_STRIPE_LIVEMODE"])
    text = payload.decode("utf-8")
    if event["type"] in handling.IN_ONE_TRANSACTION:
        # Not looked up first: a replay (rare: Stripe repeats what failed) finds
        # the event stored when it inserts it, and its work is rolled back.
        result = handling.handle_new(event, text)
        if result is not None:
            return Received(event["id"], False, result.outcome, result.reason)
        # Stored before, or by a racing delivery, which answers duplicate=False.
    stored = store.store(event, text)
    if not stored.created and not store.claim(stored.id):
        return Received(event["id"], True, stored.outcome)
    # Whichever delivery claimed it handles it (the first one, or a retry of an
    # event whose handler died): it is the one that answers duplicate=False.
    result = handling.handle(stored.id, event if stored.created else None)
    return Received(event["id"], False, result.outcome, result.reason)
