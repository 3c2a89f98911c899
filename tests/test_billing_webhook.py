"""POST /api/billing/stripe: signatures, modes, bodies, storage once by event id."""

import contextlib
import json
import time

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.billing import handling, links
from referral_site.referrals.billing.models import (
    BillingEvent,
    BillingSubscription,
    Outcome,
)
from referral_site.referrals.storage.models import Conversion
from tests.billing_helpers import billing_settings, conversions, events
from tests.conftest import scalar
from tests.reward_helpers import referred_pair
from tests.stripe_events import OLD_SECRET, SECRET, checkout, event, post, sign


@pytest.fixture
def app(make_app):
    return make_app(**billing_settings())


def _count(app, model=BillingEvent):
    return scalar(app, sa.select(sa.func.count()).select_from(model))


def test_the_endpoint_is_off_without_a_secret(make_app, make_user):
    app = make_app()
    response = post(app.test_client(), event("checkout.session.completed", checkout()))
    assert response.status_code == 404
    assert "REFERRALS_STRIPE_WEBHOOK_SECRET" in response.get_json()["error"]
    assert _count(app) == 0


def test_a_signed_checkout_becomes_a_conversion_with_its_rewards(app, make_user):
    _, bob = referred_pair(make_user)
    response = post(
        app.test_client(), event("checkout.session.completed", checkout(bob))
    )
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "applied"
    assert [c[1:4] for c in conversions(app)] == [("purchase", 5000, "USD")]


def test_a_new_payment_commits_once_its_event_with_its_conversion(app, make_user):
    # The event, its conversion and rewards, the customer's tie and the outcome
    # in one transaction, as a conversion posted to the API (it was four).
    _, bob = referred_pair(make_user)
    commits = []
    with app.app_context():
        engine = db.engine

    def count(_connection):
        commits.append(1)

    sa.event.listen(engine, "commit", count)
    try:
        response = post(
            app.test_client(), event("checkout.session.completed", checkout(bob))
        )
    finally:
        sa.event.remove(engine, "commit", count)
    assert response.get_json()["outcome"] == "applied"
    assert len(commits) == 1
    assert scalar(app, sa.select(BillingEvent.conversion_id)) is not None


def test_a_subscription_whose_owner_cannot_be_saved_records_nothing_and_is_retried(
    app, make_user, monkeypatch
):
    # The subscription's owner commits with the conversion and the outcome: an
    # outage in between leaves the event to Stripe's retry, not applied and
    # missing its subscription (whose renewals would then find no one).
    _, bob = referred_pair(make_user)
    session = checkout(bob, mode="subscription", amount=2000)
    body = event("checkout.session.completed", session)
    save = links.save_subscription_in

    def outage(*args, **kwargs):
        raise sa.exc.OperationalError("UPDATE", {}, Exception("connection lost"))

    monkeypatch.setattr(links, "save_subscription_in", outage)
    refused = post(app.test_client(), body)
    assert refused.status_code == 503
    assert _count(app, Conversion) == 0
    monkeypatch.setattr(links, "save_subscription_in", save)
    retried = post(app.test_client(), body)
    assert retried.get_json()["outcome"] == "applied"
    owner = scalar(
        app,
        sa.select(BillingSubscription.user_id).where(
            BillingSubscription.subscription_id == session["subscription"]
        ),
    )
    assert owner == bob and _count(app, Conversion) == 1


@pytest.mark.parametrize("secret", [SECRET, OLD_SECRET])
def test_every_configured_secret_is_valid_at_once(app, make_user, secret):
    _, bob = referred_pair(make_user)
    body = event("checkout.session.completed", checkout(bob))
    assert post(app.test_client(), body, secret=secret).status_code == 200
    assert _count(app, Conversion) == 1


def _raw(body: dict) -> bytes:
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "header, message",
    [
        (None, "Missing Stripe-Signature"),
        ("", "Missing Stripe-Signature"),
        ("t=abc,v1=00", "Bad Stripe-Signature"),
        ("v1=deadbeef", "Bad Stripe-Signature"),
        ("wrong-secret", "Bad Stripe-Signature"),
        ("stale", "Bad Stripe-Signature"),
        ("other-body", "Bad Stripe-Signature"),
        ("v0-scheme", "Bad Stripe-Signature"),
    ],
)
def test_bad_or_missing_signatures_are_refused_and_nothing_is_written(
    app, make_user, header, message
):
    _, bob = referred_pair(make_user)
    raw = _raw(event("checkout.session.completed", checkout(bob)))
    headers = {
        "wrong-secret": sign(raw, "whsec_not_ours"),
        "stale": sign(raw, SECRET, int(time.time()) - 301),
        "other-body": sign(raw + b" ", SECRET),
        "v0-scheme": sign(raw, SECRET).replace("v1=", "v0="),
    }
    sent = {} if header is None else {"Stripe-Signature": headers.get(header, header)}
    response = app.test_client().post(
        "/api/billing/stripe", data=raw, headers=sent, content_type="application/json"
    )
    assert response.status_code == 401
    assert message in response.get_json()["error"]
    assert (_count(app), _count(app, Conversion)) == (0, 0)


def test_a_timestamp_within_the_tolerance_is_accepted(app, make_user):
    _, bob = referred_pair(make_user)
    body = event("checkout.session.completed", checkout(bob))
    response = post(app.test_client(), body, timestamp=int(time.time()) - 280)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"{not json", "not JSON"),
        (b"[]", "not a Stripe event"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"id": "evt_1", "type": "x"}', "livemode"),
        (b'{"id": "evt_1", "type": "x", "livemode": false, "created": 1}', "data"),
        (b'{"type": "x", "livemode": false, "created": 1, "data": {}}', "id"),
    ],
)
def test_malformed_bodies_are_refused_with_a_clear_message(app, raw, message):
    response = post(app.test_client(), raw)
    assert response.status_code == 400
    assert message.lower() in response.get_json()["error"].lower()
    assert _count(app) == 0


def test_an_oversized_body_is_refused_before_it_is_read(make_app, make_user):
    app = make_app(**billing_settings(REFERRALS_STRIPE_MAX_BYTES=2000))
    _, bob = referred_pair(make_user)
    body = event(
        "checkout.session.completed", checkout(bob, metadata={"x": "y" * 3000})
    )
    response = post(app.test_client(), body)
    assert response.status_code == 413
    assert "2000 bytes" in response.get_json()["error"]
    assert _count(app) == 0


@pytest.mark.parametrize("live_setting, live_event", [(False, True), (True, False)])
def test_events_of_the_other_mode_are_refused(
    make_app, make_user, live_setting, live_event
):
    app = make_app(**billing_settings(REFERRALS_STRIPE_LIVEMODE=live_setting))
    _, bob = referred_pair(make_user)
    body = event("checkout.session.completed", checkout(bob), livemode=live_event)
    response = post(app.test_client(), body)
    assert response.status_code == 400
    assert "mode" in response.get_json()["error"]
    assert (_count(app), _count(app, Conversion)) == (0, 0)


def test_a_replayed_event_answers_200_and_does_nothing_more(app, make_user):
    _, bob = referred_pair(make_user)
    body = event("checkout.session.completed", checkout(bob))
    client = app.test_client()
    first, again = post(client, body), post(client, body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.get_json()["duplicate"], again.get_json()["duplicate"]) == (
        False,
        True,
    )
    assert (_count(app), _count(app, Conversion)) == (1, 1)


def test_unknown_event_types_are_recorded_as_ignored(app):
    body = event("price.created", {"object": "price", "id": "price_1"})
    response = post(app.test_client(), body)
    assert response.status_code == 200
    assert events(app) == [
        (body["id"], "price.created", Outcome.IGNORED, "event type not used")
    ]


def test_signed_objects_missing_their_fields_are_recorded_as_failed(app):
    body = event(
        "checkout.session.completed",
        {"object": "checkout.session", "mode": "payment", "payment_status": "paid"},
    )
    response = post(app.test_client(), body)
    assert response.status_code == 200
    ((_, _, outcome, reason),) = events(app)
    assert outcome == Outcome.FAILED and reason


def test_amounts_beyond_any_sale_are_recorded_as_failed(app, make_user):
    from tests.stripe_events import refund

    _, bob = referred_pair(make_user)
    session = checkout(bob)
    client = app.test_client()
    post(client, event("checkout.session.completed", session))
    huge = refund(session["payment_intent"], 2**70)
    response = post(client, event("refund.created", huge))
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "failed"
    assert conversions(app)[0][4] == 0


#: One pooled connection, given up on after 0.2 s: a test holding it leaves none.
SMALL_POOL = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2}


@contextlib.contextmanager
def _pool_exhausted(app):
    """The pool's only connection taken, as by requests stuck on a hung database."""
    with app.app_context():
        engine = app.extensions["referrals"].db.engine
    held = engine.connect()
    held.execute(sa.text("SELECT 1"))
    try:
        yield
    finally:
        held.close()


def _assert_retry_later(response):
    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    assert response.get_json()["error"]
    assert int(response.headers["Retry-After"]) > 0


def _assert_applied_once(host, response):
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.get_json()["outcome"] == "applied"
    assert response.get_json()["duplicate"] is False
    assert host.rows(sa.select(BillingEvent.outcome)) == [(Outcome.APPLIED,)]
    assert host.count(Conversion.id) == 1


def test_an_event_met_by_an_exhausted_pool_answers_503_and_is_applied_when_resent(
    make_host,
):
    # The plugin answers for itself: a host without an outage handler of its
    # own (the bookshop) gets the plugin's 503, not a 500.
    host = make_host(**billing_settings(SQLALCHEMY_ENGINE_OPTIONS=SMALL_POOL))
    _, bob = referred_pair(host.users)
    body = event("checkout.session.completed", checkout(bob))
    client = host.app.test_client()
    with _pool_exhausted(host.app):
        refused = post(client, body)
    _assert_retry_later(refused)
    _assert_applied_once(host, post(client, body))


def test_an_event_whose_handler_meets_an_exhausted_pool_is_given_back(
    make_host, monkeypatch
):
    # Stored and claimed, then no connection for its handler: the claim is
    # released, so Stripe's retry handles it rather than answering duplicate.
    host = make_host(**billing_settings(SQLALCHEMY_ENGINE_OPTIONS=SMALL_POOL))
    _, bob = referred_pair(host.users)
    body = event("checkout.session.completed", checkout(bob))
    checkout_completed = handling.HANDLERS["checkout.session.completed"]

    def exhausted(*args):
        with _pool_exhausted(host.app):
            return checkout_completed(*args)

    monkeypatch.setitem(handling.HANDLERS, "checkout.session.completed", exhausted)
    client = host.app.test_client()
    refused = post(client, body)
    monkeypatch.undo()
    _assert_retry_later(refused)
    _assert_applied_once(host, post(client, body))
