"""Checking that a webhook body comes from Stripe, with Stripe's own library."""

import json

#: Error messages are shown to the sender (Stripe's dashboard lists them).
OFF_MESSAGE = "Stripe webhooks are off (no REFERRALS_STRIPE_WEBHOOK_SECRET set)."


class WebhookRefused(Exception):
    """The body was not accepted; the message says why and is safe to show."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def secrets_of(setting: str) -> list[str]:
    """The endpoint secrets of a comma-separated setting (several during rotation)."""
    return [secret.strip() for secret in (setting or "").split(",") if secret.strip()]


def verified_event(payload: bytes, header: str | None, secrets: list[str]) -> dict:
    """The event in a body signed with any of the secrets, or WebhookRefused.

    Stripe's ``WebhookSignature.verify_header`` checks the HMAC of "t.payload",
    and the timestamp against ``Webhook.DEFAULT_TOLERANCE`` (300 s), the tolerance
    ``Webhook.construct_event`` applies.
    """
    # Imported on the first delivery: the library costs a worker about 4 MiB,
    # which a site that takes no Stripe events need not carry.
    import stripe

    if not secrets:
        raise WebhookRefused(OFF_MESSAGE, 404)
    if not header:
        raise WebhookRefused("Missing Stripe-Signature header.", 401)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRefused("The body is not UTF-8.") from None
    problem = "No signature matches."
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(
                text, header, secret, tolerance=stripe.Webhook.DEFAULT_TOLERANCE
            )
            break
        except stripe.SignatureVerificationError as error:
            problem = _message(error)
    else:
        raise WebhookRefused(f"Bad Stripe-Signature: {problem}", 401)
    try:
        event = json.loads(text)
    except ValueError:
        raise WebhookRefused("The body is not JSON.") from None
    if not isinstance(event, dict):
        raise WebhookRefused("The body is not a Stripe event.")
    return event


def _message(error: Exception) -> str:
    text = str(getattr(error, "user_message", None) or error)
    return text.split("\n")[0][:200]
