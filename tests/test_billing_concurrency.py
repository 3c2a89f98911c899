"""Stripe delivers concurrently and repeats itself: one event racing itself from 8
threads, and the events of one refund racing each other, have one effect."""

from collections import Counter

import pytest
import sqlalchemy as sa

from referral_site.referrals.billing import store
from referral_site.referrals.billing.models import BillingEvent
from referral_site.referrals.storage.models import Conversion, Reward
from tests.billing_helpers import billing_settings, conversions, rewards
from tests.conftest import POSTGRES_URL, scalar
from tests.reward_helpers import referred_pair
from tests.stripe_events import charge, checkout, dispute, event, post, refund
from tests.test_reward_concurrency import THREADS, run_at_once

ROUNDS = 8


@pytest.fixture
def app(make_app):
    return make_app(**billing_settings(REFERRALS_VELOCITY_MAX_PER_REFERRER=10_000))


def deliver_at_once(app, bodies) -> Counter:
    """POST each body from its own thread at the same moment; the answers."""
    answers = run_at_once(
        [lambda body=body: post(app.test_client(), body) for body in bodies]
    )
    errors = [a for a in answers if isinstance(a, Exception)]
    assert not errors, errors
    return Counter((a.status_code, a.get_json().get("duplicate")) for a in answers)


def test_one_checkout_event_from_eight_threads_is_one_conversion(
    app, make_user, monkeypatch
):
    ann, code = make_user()
    overtaken = Counter()  # deliveries whose work a racing one's insert rolled back
    insert_handled = store._insert_handled

    def counting(*args):
        try:
            return insert_handled(*args)
        except store.AlreadyStored:
            overtaken["rolled back"] += 1
            raise

    monkeypatch.setattr(store, "_insert_handled", counting)
    for round_ in range(ROUNDS):
        bob, _ = make_user(f"friend{round_}@example.com", "Friend", code=code)
        body = event("checkout.session.completed", checkout(bob))
        answers = deliver_at_once(app, [body] * THREADS)
        assert answers == {(200, False): 1, (200, True): THREADS - 1}, round_
    assert scalar(app, sa.select(sa.func.count(Conversion.id))) == ROUNDS
    assert scalar(app, sa.select(sa.func.count(BillingEvent.id))) == ROUNDS
    grants = Counter(r[0] for r in rewards(app, ann))
    assert grants == {"bonus": ROUNDS, "share": ROUNDS}
    if POSTGRES_URL:  # SQLite's writers take turns: later ones see it stored
        assert overtaken["rolled back"] > 0


def test_the_events_of_one_partial_refund_racing_take_it_back_once(app, make_user):
    ann, bob = referred_pair(make_user)
    for round_ in range(ROUNDS):
        session = checkout(bob, amount=10_000)
        post(app.test_client(), event("checkout.session.completed", session))
        pi = session["payment_intent"]
        one = refund(pi, 2500)
        bodies = [
            event("refund.created", one),
            event(
                "charge.refunded",
                charge(pi, amount=10_000, refunded=2500, refunds=[one]),
            ),
        ]
        bodies = bodies * (THREADS // 2)
        deliver_at_once(app, bodies)
        with app.app_context():
            from referral_site.extensions import db

            shares = (
                db.session.execute(
                    sa.select(Reward.amount_minor)
                    .join(Conversion, Conversion.id == Reward.conversion_id)
                    .where(
                        Conversion.external_id == f"stripe:{pi}", Reward.rule == "share"
                    )
                )
                .scalars()
                .all()
            )
        # 10% of 10000 = 1000; a quarter refunded leaves 750, once.
        assert shares == [750], round_
    assert {c[4] for c in conversions(app)} == {2500}


def test_a_dispute_racing_its_payment_is_applied_whichever_lands_first(app, make_user):
    ann, bob = referred_pair(make_user)
    for round_ in range(ROUNDS):
        session = checkout(bob, amount=4000)
        opened = dispute(session["payment_intent"])
        bodies = [event("checkout.session.completed", session)] * (THREADS // 2)
        bodies += [event("charge.dispute.created", opened)] * (THREADS // 2)
        deliver_at_once(app, bodies)
        held = [
            c for c in conversions(app) if c[0] == f"stripe:{session['payment_intent']}"
        ]
        assert held and held[0][5] == "payment disputed (fraudulent)", round_
