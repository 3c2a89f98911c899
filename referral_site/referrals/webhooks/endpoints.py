"""Managing endpoints: add, change, rotate the secret, turn on or off, replay."""

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.outbox.events import TYPES
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import utcnow
from referral_site.referrals.storage.transactions import write_transaction
from referral_site.referrals.webhooks import http, signing
from referral_site.referrals.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


class WebhookError(Exception):
    """A webhook change was refused; the message is safe to show."""


class EndpointNotFound(WebhookError):
    """No endpoint (or delivery) has this id."""


@dataclass(frozen=True)
class EndpointFields:
    """What an admin sets on an endpoint."""

    url: str
    description: str
    event_types: list[str]
    enabled: bool


def _checked(fields: EndpointFields) -> EndpointFields:
    try:
        http.check_url(fields.url)
    except http.Refused as refused:
        raise WebhookError(str(refused)) from None
    unknown = set(fields.event_types) - set(TYPES)
    if unknown:
        raise WebhookError(f"Unknown event types: {', '.join(sorted(unknown))}.")
    return fields


def create_endpoint(fields: EndpointFields) -> int:
    """Add an endpoint with a new secret; returns its id."""
    fields = _checked(fields)
    with write_transaction() as session:
        endpoint = WebhookEndpoint(
            url=fields.url,
            description=fields.description,
            event_types=sorted(fields.event_types),
            enabled=fields.enabled,
            secret=signing.new_secret(),
        )
        session.add(endpoint)
        session.flush()
        return endpoint.id


def update_endpoint(endpoint_id: int, fields: EndpointFields) -> None:
    """Change an endpoint's URL, description, types or state."""
    fields = _checked(fields)
    with write_transaction() as session:
        endpoint = _locked(session, endpoint_id)
        endpoint.url = fields.url
        endpoint.description = fields.description
        endpoint.event_types = sorted(fields.event_types)
        _set_enabled(endpoint, fields.enabled)


def _set_enabled(endpoint: WebhookEndpoint, enabled: bool) -> None:
    if enabled and not endpoint.enabled:
        # Turned back on: its failures so far no longer count against it.
        endpoint.failing_since = None
        endpoint.disabled_reason = None
        endpoint.disabled_at = None
    endpoint.enabled = enabled


def rotate_secret(endpoint_id: int) -> None:
    """A new secret; the old one also signs for REFERRALS_WEBHOOK_ROTATION_HOURS."""
    hours = current_app.config["REFERRALS_WEBHOOK_ROTATION_HOURS"]
    with write_transaction() as session:
        endpoint = _locked(session, endpoint_id)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = utcnow() + timedelta(hours=hours)
        endpoint.secret = signing.new_secret()


def delete_endpoint(endpoint_id: int) -> None:
    """Remove an endpoint with its deliveries and their log."""
    with write_transaction() as session:
        session.delete(_locked(session, endpoint_id))


def replay(delivery_id: int) -> int:
    """Send a delivery again (same webhook-id), with a full retry schedule.

    Returns the endpoint's id. A delivery being attempted right now is sent
    again after that attempt.
    """
    with write_transaction() as session:
        delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            raise EndpointNotFound("No such delivery.")
        delivery.status = DeliveryStatus.PENDING
        delivery.attempts = 0
        delivery.due_at = utcnow()
        delivery.delivered_at = None
        return delivery.endpoint_id


def _locked(session, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
    if endpoint is None:
        raise EndpointNotFound("No such webhook endpoint.")
    return endpoint


def endpoints() -> list[WebhookEndpoint]:
    """Every endpoint, oldest first."""
    return db.session.scalars(
        sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id)
    ).all()


def turned_off() -> list[WebhookEndpoint]:
    """The endpoints the system turned off after failing for days (for an alert)."""
    return db.session.scalars(
        sa.select(WebhookEndpoint)
        .where(
            WebhookEndpoint.enabled.is_(False),
            WebhookEndpoint.disabled_reason.is_not(None),
        )
        .order_by(WebhookEndpoint.id)
    ).all()


def endpoint(endpoint_id: int) -> WebhookEndpoint:
    found = db.session.get(WebhookEndpoint, endpoint_id)
    if found is None:
        raise EndpointNotFound("No such webhook endpoint.")
    return found


def recent_deliveries(endpoint_id: int, page: int, per_page: int):
    """An endpoint's deliveries, newest first."""
    return db.paginate(
        sa.select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()),
        page=page,
        per_page=per_page,
        error_out=False,
    )


def event_types(event_ids: list[str]) -> dict[str, str]:
    """The type of each of these events, by id."""
    from referral_site.referrals.outbox.models import OutboxEvent

    rows = db.session.execute(
        sa.select(OutboxEvent.id, OutboxEvent.type).where(OutboxEvent.id.in_(event_ids))
    )
    return {event_id: type_ for event_id, type_ in rows}


def attempts_of(delivery_ids: list[int]) -> dict[int, list]:
    """The attempts of some deliveries, newest first, by delivery id."""
    found: dict[int, list] = {delivery_id: [] for delivery_id in delivery_ids}
    if not delivery_ids:
        return found
    rows = db.session.scalars(
        sa.select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.id.desc())
    )
    for attempt in rows:
        found[attempt.delivery_id].append(attempt)
    return found
