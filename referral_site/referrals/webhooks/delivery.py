"""Making deliveries: lease the due ones, sign and send them, log each attempt.

A failed attempt is retried on :data:`SCHEDULE` (about a day in all, each wait
jittered by ±10% so failing endpoints do not all retry at once); then the
delivery is marked failed. An endpoint whose deliveries have failed without a
success for REFERRALS_WEBHOOK_DISABLE_AFTER_HOURS is turned off, and a
``webhook.endpoint_disabled`` event tells the admins.
"""

import json
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.outbox import events as outbox
from referral_site.referrals.outbox.models import OutboxEvent
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

#: Waits after the 1st, 2nd... failed attempt: 8 attempts over about 27 hours.
SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)


def retry_wait(attempts: int) -> timedelta | None:
    """The wait after ``attempts`` failed attempts (None: no attempt is left)."""
    if attempts > len(SCHEDULE):
        return None
    return SCHEDULE[attempts - 1] * random.uniform(0.9, 1.1)  # noqa: S311  # nosec B311


@dataclass(frozen=True)
class _Claim:
    delivery_id: int
    attempts: int
    endpoint_id: int
    url: str
    secrets: list[str]
    event_id: str
    body: str


@dataclass(frozen=True)
class Delivered:
    """What one run of :func:`deliver_due` did."""

    delivered: int = 0
    failed: int = 0


def deliver_due(batch_size: int = 100, now: datetime | None = None) -> Delivered:
    """Send up to ``batch_size`` due deliveries, several at a time, and log them."""
    claims = _claim_due(batch_size, now or utcnow())
    if not claims:
        return Delivered()
    limits = _limits()
    workers = current_app.config["REFERRALS_WEBHOOK_CONCURRENCY"]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(claims)))) as pool:
        answers = list(pool.map(lambda claim: _send(claim, limits), claims))
    # One transaction for the batch: a crash before it commits sends the batch
    # again, with the same ids, which at least once allows.
    with write_transaction() as session:
        # An endpoint deleted meanwhile took its deliveries along: nothing to log.
        present = set(
            session.scalars(
                sa.select(WebhookDelivery.id).where(
                    WebhookDelivery.id.in_([claim.delivery_id for claim in claims])
                )
            )
        )
        for claim, (started, answer) in zip(claims, answers, strict=True):
            if claim.delivery_id in present:
                _finish(session, claim, started, answer)
    succeeded = sum(answer.succeeded for _, answer in answers)
    return Delivered(delivered=succeeded, failed=len(answers) - succeeded)


def next_delivery_due() -> datetime | None:
    """When the earliest pending delivery of an enabled endpoint is due."""
    return db.session.scalar(
        sa.select(sa.func.min(WebhookDelivery.due_at))
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookEndpoint.enabled.is_(True))
    )


def _limits() -> http.Limits:
    config = current_app.config
    return http.Limits(
        connect_timeout=config["REFERRALS_WEBHOOK_CONNECT_TIMEOUT"],
        read_timeout=config["REFERRALS_WEBHOOK_READ_TIMEOUT"],
        allowed_networks=http.parse_networks(
            config["REFERRALS_WEBHOOK_ALLOWED_NETWORKS"]
        ),
    )


def _due(now: datetime):
    return (
        sa.select(WebhookDelivery, WebhookEndpoint, OutboxEvent)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.due_at <= now, WebhookEndpoint.enabled.is_(True))
    )


def _claim_due(batch_size: int, now: datetime) -> list[_Claim]:
    """Lease due deliveries: another worker takes one only once its lease ends."""
    # A read first: an idle queue takes no write lock (SQLite has only one).
    if not db.session.scalar(sa.select(_due(now).exists())):
        db.session.rollback()
        return []
    lease = timedelta(seconds=current_app.config["REFERRALS_OUTBOX_LEASE_SECONDS"])
    with write_transaction() as session:
        rows = session.execute(
            _due(now)
            .order_by(WebhookDelivery.due_at, WebhookDelivery.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        ).all()
        claims = [_claim_of(row, now) for row in rows]
        if rows:
            session.execute(
                sa.update(WebhookDelivery)
                .where(WebhookDelivery.id.in_([claim.delivery_id for claim in claims]))
                .values(due_at=now + lease, attempts=WebhookDelivery.attempts + 1)
            )
    return claims


def _claim_of(row, now: datetime) -> _Claim:
    delivery, endpoint, event = row
    envelope = outbox.envelope(event.id, event.type, event.payload, event.created_at)
    return _Claim(
        delivery_id=delivery.id,
        attempts=delivery.attempts + 1,
        endpoint_id=endpoint.id,
        url=endpoint.url,
        secrets=signing_secrets(endpoint, now),
        event_id=event.id,
        body=json.dumps(envelope, separators=(",", ":"), ensure_ascii=False),
    )


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The endpoint's secret, and its previous one while the rotation lasts."""
    valid = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        valid.append(endpoint.previous_secret)
    return valid


def _send(claim: _Claim, limits: http.Limits) -> tuple[datetime, http.Answer]:
    """One signed POST (in a pool thread: no database, no app context)."""
    started = utcnow()
    headers = signing.headers(claim.event_id, claim.body, started, claim.secrets)
    try:
        answer = http.post(claim.url, claim.body.encode(), headers, limits)
    except http.Refused as refused:
        answer = http.Answer(None, 0, f"Not sent: {refused}")
    return started, answer


def _finish(session, claim: _Claim, started: datetime, answer: http.Answer) -> None:
    """Log the attempt; the delivery is done, due again, or failed for good."""
    now = utcnow()
    wait = None if answer.succeeded else retry_wait(claim.attempts)
    session.add(
        WebhookAttempt(
            delivery_id=claim.delivery_id,
            started_at=started,
            status_code=answer.status_code,
            latency_ms=answer.latency_ms,
            response_start=answer.response_start[: http.KEEP_BYTES],
            succeeded=answer.succeeded,
        )
    )
    session.execute(
        sa.update(WebhookDelivery)
        # Only while the lease is ours (see outbox/dispatch.py).
        .where(
            WebhookDelivery.id == claim.delivery_id,
            WebhookDelivery.attempts == claim.attempts,
        )
        .values(**_outcome(answer, wait, now))
    )
    _track_endpoint(session, claim.endpoint_id, answer.succeeded, now)


def _outcome(answer: http.Answer, wait: timedelta | None, now: datetime) -> dict:
    if answer.succeeded:
        return {"status": DeliveryStatus.DELIVERED, "due_at": None, "delivered_at": now}
    if wait is None:
        return {"status": DeliveryStatus.FAILED, "due_at": None}
    return {"status": DeliveryStatus.PENDING, "due_at": now + wait}


def _track_endpoint(session, endpoint_id: int, succeeded: bool, now: datetime):
    """Note the endpoint's run of failures; turn it off when it has lasted too long."""
    endpoint = session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
    if endpoint is None:
        return
    if succeeded:
        if endpoint.failing_since is not None:
            endpoint.failing_since = None
        return
    endpoint.failing_since = endpoint.failing_since or now
    hours = current_app.config["REFERRALS_WEBHOOK_DISABLE_AFTER_HOURS"]
    if endpoint.enabled and now - endpoint.failing_since >= timedelta(hours=hours):
        reason = (
            f"Every delivery failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC."
        )
        endpoint.enabled = False
        endpoint.disabled_reason = reason
        endpoint.disabled_at = now
        outbox.record(
            session,
            outbox.WEBHOOK_ENDPOINT_DISABLED,
            {"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason},
        )
