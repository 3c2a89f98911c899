"""/admin/webhooks: admins manage endpoints, see each attempt, replay a delivery."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.outbox import dispatch, events
from referral_site.referrals.outbox.models import OutboxEvent, OutboxProgress
from referral_site.referrals.storage.models import utcnow
from referral_site.referrals.storage.transactions import write_transaction
from referral_site.referrals.webhooks import http
from referral_site.referrals.webhooks.delivery import deliver_due
from referral_site.referrals.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests.conftest import login
from tests.webhook_helpers import HOOK_SETTINGS, add_endpoint
from tests.webhook_receiver import Receiver


@pytest.fixture
def app(make_app):
    return make_app(**HOOK_SETTINGS)


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def deliver_now(app):
    with app.app_context():
        dispatch.dispatch()
        return deliver_due()


def endpoint_row(app, endpoint_id=None):
    with app.app_context():
        query = sa.select(WebhookEndpoint)
        if endpoint_id:
            query = query.where(WebhookEndpoint.id == endpoint_id)
        row = db.session.scalar(query)
        db.session.expunge(row)
        return row


def test_an_admin_adds_an_endpoint_and_sees_its_secret(admin, app):
    response = admin.post(
        "/admin/webhooks",
        data={
            "url": "https://hooks.example.com/referrals",
            "description": "CRM",
            "event_types": ["reward.created", "conversion.recorded"],
            "enabled": "y",
        },
    )
    assert response.status_code == 302
    endpoint = endpoint_row(app)
    assert endpoint.event_types == ["conversion.recorded", "reward.created"]
    assert endpoint.secret.startswith("whsec_") and endpoint.enabled
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert endpoint.secret in page and "hooks.example.com" in page


def test_the_retry_schedule_reads_in_plain_units(admin):
    page = " ".join(admin.get("/admin/webhooks").get_data(as_text=True).split())
    assert "after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (each ±10%)" in page


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/", "Use an http:// or https:// URL"),
        ("https://user:pw@hooks.example.com/", "Leave credentials out"),
        ("https://hooks.example.com:99999/", "The port is not a number"),
        ("", "This field is required"),
    ],
)
def test_a_bad_url_is_refused_with_a_message(admin, app, url, message):
    response = admin.post("/admin/webhooks", data={"url": url, "enabled": "y"})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(WebhookEndpoint.id))) == 0


def test_an_unknown_event_type_is_refused(admin):
    response = admin.post(
        "/admin/webhooks",
        data={"url": "https://h.example.com/", "event_types": ["user.hacked"]},
    )
    assert response.status_code == 400


def test_only_admins_open_the_webhook_pages(app, client, make_user):
    assert client.get("/admin/webhooks").status_code == 302  # to the login page
    make_user("ann@example.com")
    login(client, "ann@example.com")
    assert client.get("/admin/webhooks").status_code == 403
    assert client.post("/admin/webhooks/1/rotate").status_code == 403


def test_forms_without_a_csrf_token_change_nothing(make_app, make_user):
    app = make_app(**HOOK_SETTINGS, WTF_CSRF_ENABLED=True)
    make_user("boss@example.com", "Boss", admin=True)
    endpoint_id, secret = add_endpoint(app, "https://h.example.com/")
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    client.post(
        "/login",
        data={
            "email": "boss@example.com",
            "password": "correct horse battery",
            "csrf_token": token.group(1),
        },
    )
    client.post(f"/admin/webhooks/{endpoint_id}/rotate")
    client.post(f"/admin/webhooks/{endpoint_id}/delete")
    response = client.post("/admin/webhooks", data={"url": "https://x.example.com/"})
    assert response.status_code == 400
    assert endpoint_row(app, endpoint_id).secret == secret


def test_every_attempt_is_shown_and_a_delivery_replayed_with_its_id(
    admin, app, receiver
):
    receiver.status = 500
    endpoint_id, _ = add_endpoint(app, receiver.url)
    deliver_now(app)  # the admin's own signup, refused with a 500
    page = admin.get(f"/admin/webhooks/{endpoint_id}").get_data(as_text=True)
    assert "500" in page and "ok from the receiver" in page and " ms" in page
    receiver.status = 200
    with app.app_context():
        delivery_id = db.session.scalar(sa.select(WebhookDelivery.id))
    response = admin.post(f"/admin/webhooks/deliveries/{delivery_id}/replay")
    assert response.status_code == 302
    deliver_now(app)
    first, again = receiver.received
    assert first.webhook_id == again.webhook_id
    page = admin.get(f"/admin/webhooks/{endpoint_id}").get_data(as_text=True)
    assert "delivered" in page


def test_an_endpoint_failing_for_days_is_turned_off_and_admins_told(
    admin, app, receiver
):
    receiver.status = 503
    endpoint_id, _ = add_endpoint(app, receiver.url)
    with app.app_context(), write_transaction() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        endpoint.failing_since = utcnow() - timedelta(hours=73)
    deliver_now(app)
    endpoint = endpoint_row(app, endpoint_id)
    assert not endpoint.enabled and "failed since" in endpoint.disabled_reason
    with app.app_context():
        (told,) = db.session.scalars(
            sa.select(OutboxEvent.payload).where(
                OutboxEvent.type == "webhook.endpoint_disabled"
            )
        )
    assert told == {
        "endpoint_id": endpoint_id,
        "url": receiver.url,
        "reason": endpoint.disabled_reason,
    }
    assert "was turned off" in admin.get("/admin/webhooks").get_data(as_text=True)
    assert "1 webhook endpoint was" in admin.get("/admin").get_data(as_text=True)
    # Nothing more is sent until an admin turns it back on, retries included.
    receiver.status = 200
    later = utcnow() + timedelta(minutes=1)
    with app.app_context():
        assert deliver_due(now=later).delivered == 0
    admin.post(
        f"/admin/webhooks/{endpoint_id}", data={"url": receiver.url, "enabled": "y"}
    )
    assert endpoint_row(app, endpoint_id).failing_since is None
    with app.app_context():
        assert deliver_due(now=later).delivered == 1
    assert len(receiver.received) == 2


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",  # noqa: S104 (an address refused, not bound)
        "100.64.0.1",
    ],
)
def test_internal_addresses_are_refused(address):
    limits = http.Limits(1.0, 1.0, allowed_networks=())
    with pytest.raises(http.Refused, match="internal address"):
        http.resolve(address, 80, limits)


def test_the_allowlist_lets_an_intranet_through():
    limits = http.Limits(1.0, 1.0, http.parse_networks("10.0.0.0/8, 127.0.0.1/32"))
    assert http.resolve("10.1.2.3", 80, limits) == "10.1.2.3"
    with pytest.raises(http.Refused):
        http.resolve("192.168.1.1", 80, limits)


def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(http.Refused, match="does not resolve"):
        http.resolve("no-such-host.invalid", 80, http.Limits(1.0, 1.0, ()))


def test_old_events_are_purged_once_delivered_and_kept_while_pending(
    app, runner, receiver
):
    add_endpoint(app, receiver.url)
    for user_id in (1, 2):
        with app.app_context(), write_transaction() as session:
            events.record(session, "user.signed_up", {"user_id": user_id})
        deliver_now(app)  # the first delivered; the second pending (a 500)
        receiver.status = 500
    with app.app_context(), write_transaction() as session:
        session.execute(
            sa.update(OutboxEvent).values(created_at=utcnow() - timedelta(days=31))
        )
    result = runner.invoke(args=["referrals", "purge-outbox"])
    assert "Purged 1 events older than 30 days." in result.output
    with app.app_context():
        left = db.session.scalars(sa.select(OutboxEvent.payload)).all()
        assert left == [{"user_id": 2}]
        assert db.session.scalar(sa.select(sa.func.count(OutboxProgress.id))) == 1
        assert db.session.scalar(sa.select(sa.func.count(WebhookAttempt.id))) == 1
