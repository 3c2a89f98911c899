"""A payout made or failed is announced: ``payout.paid`` and ``payout.failed`` in
the outbox, delivered to webhook endpoints signed like every other event."""

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.outbox import dispatch
from referral_site.referrals.payouts.models import PayoutLine
from referral_site.referrals.webhooks.delivery import deliver_due
from tests.payout_helpers import (
    SETTINGS,
    batch_id_of,
    create_batch,
    friend_buys,
    mark_paid,
    reward_rows,
    set_paypal,
    signed_in,
)
from tests.webhook_helpers import HOOK_SETTINGS, add_endpoint, written
from tests.webhook_receiver import Receiver

PAYOUT_TYPES = ("payout.paid", "payout.failed")


@pytest.fixture
def app(make_app):
    return make_app(**(SETTINGS | HOOK_SETTINGS))


@pytest.fixture
def ann(app, make_user):
    """Ann, owed 20.00 cash for two friends' purchases, paid by PayPal."""
    ann_id, code = make_user("ann@example.com", "Ann")
    friend_buys(app, make_user, code, "ch_1")
    friend_buys(app, make_user, code, "ch_2")
    client = signed_in(app, "ann@example.com")
    assert set_paypal(client, "ann@paypal.example").status_code == 302
    return ann_id


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def _cash_rewards(app, user_id) -> list[int]:
    return [row[0] for row in reward_rows(app, user_id) if row[1] == "cash"]


def test_a_paid_batch_announces_each_line_and_a_receiver_gets_it(
    app, ann, admin, receiver
):
    _, secret = add_endpoint(app, receiver.url + "/payouts", PAYOUT_TYPES)
    batch_id = batch_id_of(create_batch(admin))
    assert written(app, PAYOUT_TYPES) == []  # a batch made is not a payout made
    mark_paid(admin, batch_id, reference="PP-7781")
    [(event_id, type_, payload)] = written(app, PAYOUT_TYPES)
    with app.app_context():
        line_id = db.session.scalar(sa.select(PayoutLine.id))
    assert (type_, payload) == (
        "payout.paid",
        {
            "payout_id": line_id,
            "batch_id": batch_id,
            "user_id": ann,
            "amount_minor": 2000,
            "currency": "USD",
            "method": "paypal",
            "reward_ids": _cash_rewards(app, ann),
            "reference": "PP-7781",
        },
    )
    with app.app_context():
        dispatch.dispatch()
        assert deliver_due().delivered == 1
    [request] = receiver.received
    assert request.webhook_id == event_id and request.verifies_with(secret)
    assert request.envelope["type"] == "payout.paid"


def test_a_failed_line_announces_why_and_a_repeat_announces_nothing(app, ann, admin):
    create_batch(admin)
    with app.app_context():
        line_id = db.session.scalar(sa.select(PayoutLine.id))
    for _ in range(2):  # the second is refused: the line failed already
        admin.post(
            f"/admin/payouts/lines/{line_id}/failed",
            data={"reason": "PayPal: receiver unregistered", "confirm": "y"},
        )
    [(_, type_, payload)] = written(app, PAYOUT_TYPES)
    assert type_ == "payout.failed"
    assert payload["reason"] == "PayPal: receiver unregistered"
    assert payload["reward_ids"] == _cash_rewards(app, ann)
    assert (payload["payout_id"], payload["amount_minor"]) == (line_id, 2000)
