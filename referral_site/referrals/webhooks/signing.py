"""Secrets and signatures of deliveries, per the Standard Webhooks specification."""

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

#: Prefix of a secret, as Standard Webhooks libraries expect it.
PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret: "whsec_" and 32 random bytes in base64."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def headers(
    event_id: str, body: str, timestamp: datetime, signing_secrets: list[str]
) -> dict[str, str]:
    """The webhook-id, -timestamp and -signature headers of one attempt.

    Each secret still valid signs the body (during a rotation, the new and the
    old), space separated, so a receiver holding either one verifies it.
    """
    signatures = [
        Webhook(secret).sign(msg_id=event_id, timestamp=timestamp, data=body)
        for secret in signing_secrets
    ]
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
