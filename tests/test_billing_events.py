"""Each Stripe event type through the endpoint: what it does to conversions and
rewards, in order and out of order."""

import time

import pytest

from referral_site.referrals.billing.models import Outcome
from referral_site.referrals.rewards import engine
from referral_site.referrals.storage.models import RewardStatus
from tests.billing_helpers import billing_settings, conversions, events, rewards
from tests.reward_helpers import referred_pair
from tests.stripe_events import (
    charge,
    checkout,
    dispute,
    event,
    invoice,
    post,
    refund,
    stripe_object,
)

PENDING, APPROVED, PAID = RewardStatus.PENDING, RewardStatus.APPROVED, RewardStatus.PAID
REVERSED = RewardStatus.REVERSED
DAY = 86400


@pytest.fixture
def app(make_app):
    return make_app(**billing_settings())


@pytest.fixture
def pair(make_user):
    return referred_pair(make_user)


def send(app, event_type, obj, **options):
    response = post(app.test_client(), event(event_type, obj, **options))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def pay_all(app, admin_id):
    """Release held rewards and mark every approved one paid."""
    with app.app_context():
        engine.process_rewards()
        ids = [i for i in _ids(app, APPROVED)]
        engine.decide(ids, "pay", actor_id=admin_id)


def _ids(app, status):
    from tests.reward_helpers import reward_ids

    return reward_ids(app, status)


def test_a_purchase_through_checkout_grants_the_bonus_and_the_share(app, pair):
    ann, bob = pair
    session = checkout(bob, amount=5000)
    answer = send(app, "checkout.session.completed", session)
    assert answer["outcome"] == "applied"
    assert conversions(app) == [
        (f"stripe:{session['payment_intent']}", "purchase", 5000, "USD", 0, None)
    ]
    assert rewards(app, ann) == [
        ("bonus", 1000, "USD", PENDING),
        ("share", 500, "USD", PENDING),
    ]


def test_an_unpaid_async_checkout_waits_for_its_payment(app, pair):
    ann, bob = pair
    session = checkout(bob, payment_status="unpaid")
    assert send(app, "checkout.session.completed", session)["outcome"] == "ignored"
    assert conversions(app) == []
    paid = session | {"payment_status": "paid"}
    assert (
        send(app, "checkout.session.async_payment_succeeded", paid)["outcome"]
        == "applied"
    )
    assert len(conversions(app)) == 1


@pytest.mark.parametrize("invoice_first", [False, True])
def test_a_subscription_and_its_first_invoice_count_once(app, pair, invoice_first):
    ann, bob = pair
    session = checkout(bob, mode="subscription", amount=2000)
    first = invoice(
        session["customer"],
        session["subscription"],
        reason="subscription_create",
        id=session["invoice"],
    )
    order = [("invoice.paid", first), ("checkout.session.completed", session)]
    for event_type, obj in order if invoice_first else reversed(order):
        send(app, event_type, obj)
    assert conversions(app) == [
        (f"stripe:{session['invoice']}", "subscription", 2000, "USD", 0, None)
    ]
    assert rewards(app, ann) == [
        ("bonus", 1000, "USD", PENDING),
        ("share", 200, "USD", PENDING),
    ]
    # The invoice that came first (nobody known yet) was attributed afterwards.
    assert {e[2] for e in events(app)} == {Outcome.APPLIED}


def _subscribed(app, bob, start):
    session = checkout(bob, mode="subscription", amount=5000, created=start)
    send(app, "checkout.session.completed", session)
    return session


def _renewal(app, session, paid_at, amount=5000):
    obj = invoice(
        session["customer"],
        session["subscription"],
        amount=amount,
        created=paid_at,
        status_transitions={"paid_at": paid_at},
    )
    return send(app, "invoice.paid", obj)


def test_renewals_earn_for_their_months_up_to_the_customer_cap(app, pair):
    ann, bob = pair
    start = int(time.time()) - 150 * DAY
    session = _subscribed(app, bob, start)
    for days in (30, 60, 120):  # the third is past the rule's 3 months
        assert _renewal(app, session, start + days * DAY)["outcome"] == "applied"
    kinds = [c[1] for c in conversions(app)]
    assert kinds == ["subscription", "renewal", "renewal", "renewal"]
    renewals = [r for r in rewards(app, ann) if r[0] == "renewals"]
    # 20% of 5000 is 1000; the customer cap of 1500 leaves 500 for the second.
    assert renewals == [
        ("renewals", 1000, "USD", PENDING),
        ("renewals", 500, "USD", PENDING),
    ]


def test_renewals_after_the_subscription_ended_earn_nothing(app, pair):
    ann, bob = pair
    start = int(time.time()) - 40 * DAY
    session = _subscribed(app, bob, start)
    ended = stripe_object(
        "subscription",
        id=session["subscription"],
        status="canceled",
        canceled_at=start + 20 * DAY,
        ended_at=start + 20 * DAY,
        customer=session["customer"],
    )
    send(app, "customer.subscription.deleted", ended)
    answer = _renewal(app, session, start + 30 * DAY)
    assert answer["outcome"] == "ignored"
    assert [c[1] for c in conversions(app)] == ["subscription"]


def test_a_renewal_invoiced_before_the_end_still_counts(app, pair):
    ann, bob = pair
    start = int(time.time()) - 40 * DAY
    session = _subscribed(app, bob, start)
    ended = stripe_object(
        "subscription",
        id=session["subscription"],
        ended_at=start + 35 * DAY,
        customer=session["customer"],
    )
    send(app, "customer.subscription.deleted", ended)
    assert _renewal(app, session, start + 30 * DAY)["outcome"] == "applied"


def test_partial_refunds_take_back_the_share_of_percentage_rewards(app, pair):
    ann, bob = pair
    session = checkout(bob, amount=5000)
    send(app, "checkout.session.completed", session)
    pi = session["payment_intent"]
    send(app, "charge.refunded", charge(pi, refunded=1000))
    # 10% share of 5000 = 500, 4000 kept -> 400; the fixed bonus stays.
    assert rewards(app, ann) == [
        ("bonus", 1000, "USD", PENDING),
        ("share", 400, "USD", PENDING),
    ]
    assert conversions(app)[0][4] == 1000


def test_partial_refunds_summing_to_the_whole_are_a_full_refund(app, pair):
    ann, bob = pair
    session = checkout(bob, amount=5000)
    send(app, "checkout.session.completed", session)
    pi = session["payment_intent"]
    first, second = refund(pi, 2000), refund(pi, 3000)
    send(app, "refund.created", first)
    send(app, "refund.created", second)
    send(app, "refund.created", first)  # Stripe's retry of the same refund
    assert conversions(app)[0][4] == 5000
    assert rewards(app, ann) == [
        ("bonus", 1000, "USD", REVERSED),
        ("share", 300, "USD", REVERSED),
    ]


def test_charge_refunded_and_refund_events_of_one_refund_count_it_once(app, pair):
    ann, bob = pair
    session = checkout(bob, amount=5000)
    send(app, "checkout.session.completed", session)
    pi = session["payment_intent"]
    one = refund(pi, 1000)
    send(app, "refund.created", one)
    send(app, "charge.refunded", charge(pi, refunded=1000, refunds=[one]))
    assert conversions(app)[0][4] == 1000
    assert rewards(app, ann)[1] == ("share", 400, "USD", PENDING)


def test_a_fixed_reward_follows_its_rules_clawback_option(make_app, make_user):
    rules = billing_settings()["REFERRALS_REWARD_RULES"]
    rules = [rules[0] | {"fixed_clawback": "full"}, rules[1]]
    app = make_app(**billing_settings(REFERRALS_REWARD_RULES=rules))
    ann, bob = referred_pair(make_user)
    session = checkout(bob, amount=5000)
    send(app, "checkout.session.completed", session)
    send(app, "charge.refunded", charge(session["payment_intent"], refunded=100))
    assert rewards(app, ann) == [
        ("bonus", 1000, "USD", REVERSED),
        ("share", 490, "USD", PENDING),
    ]


def test_a_refund_before_its_payment_waits_and_applies_when_it_arrives(app, pair):
    ann, bob = pair
    session = checkout(bob, amount=5000)
    pi = session["payment_intent"]
    assert send(app, "refund.created", refund(pi, 5000))["outcome"] == "waiting"
    assert send(app, "checkout.session.completed", session)["outcome"] == "applied"
    assert [e[2] for e in events(app)] == [Outcome.APPLIED, Outcome.APPLIED]
    assert conversions(app)[0][4] == 5000
    assert {r[3] for r in rewards(app, ann)} == {REVERSED}


def test_a_partial_refund_after_payout_writes_a_negative_entry(app, pair, make_user):
    admin, _ = make_user("boss@example.com", "Boss", admin=True)
    ann, bob = pair
    session = checkout(bob, amount=5000)
    send(app, "checkout.session.completed", session)
    pay_all(app, admin)
    pi = session["payment_intent"]
    send(app, "refund.created", refund(pi, 1000))
    send(app, "refund.created", refund(pi, 4000))
    assert rewards(app, ann) == [
        ("bonus", 1000, "USD", PAID),
        ("share", 500, "USD", PAID),
        ("adjustment", -100, "USD", APPROVED),
        ("adjustment", -1000, "USD", APPROVED),
        ("adjustment", -400, "USD", APPROVED),
    ]


def test_a_dispute_holds_the_rewards_and_a_win_gives_them_back(app, pair, make_user):
    admin, _ = make_user("boss@example.com", "Boss", admin=True)
    ann, bob = pair
    session = checkout(bob, amount=5000)
    send(app, "checkout.session.completed", session)
    opened = dispute(session["payment_intent"])
    send(app, "charge.dispute.created", opened)
    assert conversions(app)[0][5] == "payment disputed (fraudulent)"
    with app.app_context():
        assert engine.process_rewards().approved == 0
        decision = engine.decide(_ids(app, PENDING), "approve", actor_id=admin)
    assert decision.changed == [] and "held" in decision.problems[0]
    send(app, "charge.dispute.closed", opened | {"status": "won"})
    assert conversions(app)[0][5] is None
    with app.app_context():
        assert engine.process_rewards().approved == 2


@pytest.mark.parametrize("paid_first", [False, True])
def test_a_lost_dispute_is_a_full_refund(app, pair, make_user, paid_first):
    admin, _ = make_user("boss@example.com", "Boss", admin=True)
    ann, bob = pair
    session = checkout(bob, amount=5000)
    send(app, "checkout.session.completed", session)
    if paid_first:
        pay_all(app, admin)
    opened = dispute(session["payment_intent"])
    send(app, "charge.dispute.created", opened)
    send(app, "charge.dispute.closed", opened | {"status": "lost"})
    found = rewards(app, ann)
    if paid_first:
        assert found == [
            ("bonus", 1000, "USD", PAID),
            ("share", 500, "USD", PAID),
            ("adjustment", -1000, "USD", APPROVED),
            ("adjustment", -500, "USD", APPROVED),
        ]
    else:
        assert found == [
            ("bonus", 1000, "USD", REVERSED),
            ("share", 500, "USD", REVERSED),
        ]
    assert conversions(app)[0][4:] == (5000, None)


def test_a_dispute_closed_before_it_was_opened_stays_closed(app, pair):
    ann, bob = pair
    session = checkout(bob, amount=5000)
    send(app, "checkout.session.completed", session)
    opened = dispute(session["payment_intent"])
    send(app, "charge.dispute.closed", opened | {"status": "won"})
    assert send(app, "charge.dispute.created", opened)["outcome"] == "ignored"
    assert conversions(app)[0][5] is None


@pytest.mark.parametrize(
    "currency, amount, share",
    [("jpy", 5000, 500), ("kwd", 12345, 1235), ("bhd", 999, 100)],
)
def test_zero_and_three_decimal_currencies_are_stored_in_their_minor_units(
    app, pair, currency, amount, share
):
    ann, bob = pair
    send(
        app,
        "checkout.session.completed",
        checkout(bob, amount=amount, currency=currency),
    )
    assert conversions(app)[0][1:4] == ("purchase", amount, currency.upper())
    assert ("share", share, currency.upper(), PENDING) in rewards(app, ann)


def test_who_paid_by_metadata_then_by_the_customer_seen_before(app, pair):
    ann, bob = pair
    session = checkout(None, metadata={"referral_user_id": str(bob)})
    assert send(app, "checkout.session.completed", session)["outcome"] == "applied"
    later = checkout(None, customer=session["customer"])
    assert send(app, "checkout.session.completed", later)["outcome"] == "applied"
    assert len(conversions(app)) == 2


def test_a_customer_with_the_user_in_its_metadata_is_remembered(app, pair):
    ann, bob = pair
    customer = stripe_object(
        "customer", id="cus_meta", metadata={"referral_user_id": str(bob)}
    )
    assert send(app, "customer.created", customer)["outcome"] == "applied"
    assert (
        send(app, "checkout.session.completed", checkout(None, customer="cus_meta"))[
            "outcome"
        ]
        == "applied"
    )


@pytest.mark.parametrize(
    "match_email, outcome", [(False, "unattributed"), (True, "applied")]
)
def test_email_matching_is_off_unless_configured(
    make_app, make_user, match_email, outcome
):
    app = make_app(**billing_settings(REFERRALS_STRIPE_MATCH_EMAIL=match_email))
    referred_pair(make_user)
    details = {"email": "Bob@Example.com", "name": "Bob"}
    session = checkout(None, customer_details=details)
    assert send(app, "checkout.session.completed", session)["outcome"] == outcome


def test_a_payment_by_nobody_known_is_kept_unattributed(app, pair):
    session = checkout(None, client_reference_id="999999")
    answer = send(app, "checkout.session.completed", session)
    assert answer["outcome"] == "unattributed"
    assert "client_reference_id" in answer["reason"]
    assert conversions(app) == []
