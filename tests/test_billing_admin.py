"""The admin's billing page: arrivals, counts, linking and replaying events, and
the Stripe object shown beside conversions and rewards."""

import re

import pytest

from referral_site.referrals.billing.models import Outcome
from tests.billing_helpers import billing_settings, conversions, events
from tests.conftest import login
from tests.reward_helpers import referred_pair
from tests.stripe_events import checkout, dispute, event, post


@pytest.fixture
def app(make_app):
    return make_app(**billing_settings())


@pytest.fixture
def admin(app, make_user):
    make_user("boss@example.com", "Boss", admin=True)
    client = app.test_client()
    login(client, "boss@example.com")
    return client


def _event_id(app, stripe_id):
    from sqlalchemy import select

    from referral_site.extensions import db
    from referral_site.referrals.billing.models import BillingEvent

    with app.app_context():
        return db.session.scalar(
            select(BillingEvent.id).where(BillingEvent.stripe_id == stripe_id)
        )


def test_the_page_says_when_nothing_has_arrived(admin):
    page = admin.get("/admin/billing").get_data(as_text=True)
    assert "No event received yet" in page
    assert "on, test mode" in page


def test_the_page_shows_the_last_event_and_counts_by_type_and_outcome(
    app, admin, make_user
):
    _, bob = referred_pair(make_user)
    client = app.test_client()
    post(client, event("checkout.session.completed", checkout(bob)))
    last = event("price.created", {"object": "price", "id": "price_1"})
    post(client, last)
    page = admin.get("/admin/billing").get_data(as_text=True)
    shown = re.search(r'data-billing="last">(.*?)</p>', page, re.S).group(1)
    assert "price.created" in shown and last["id"] in shown and "ignored" in shown
    row = re.search(
        r'data-type="checkout.session.completed">(.*?)</tr>', page, re.S
    ).group(1)
    assert re.search(r'data-outcome="applied">1<', row)


def test_an_unattributed_event_is_shown_and_linked_to_a_user_then_applied(
    app, admin, make_user
):
    ann, bob = referred_pair(make_user)
    body = event("checkout.session.completed", checkout(None, amount=3000))
    post(app.test_client(), body)
    page = admin.get("/admin/billing").get_data(as_text=True)
    assert f'data-event="{body["id"]}"' in page and "nobody known paid" in page
    event_id = _event_id(app, body["id"])
    response = admin.post(
        f"/admin/billing/events/{event_id}/link", data={"user": "bob@example.com"}
    )
    assert response.status_code == 303
    assert events(app)[0][2] == Outcome.APPLIED
    assert [c[1:3] for c in conversions(app)] == [("purchase", 3000)]
    # The customer is now known: its next payment needs nobody.
    later = checkout(None, customer=body["data"]["object"]["customer"])
    answer = post(app.test_client(), event("checkout.session.completed", later))
    assert answer.get_json()["outcome"] == "applied"


@pytest.mark.parametrize("who", ["nobody@example.com", "424242", "x"])
def test_linking_to_an_unknown_user_changes_nothing(app, admin, make_user, who):
    referred_pair(make_user)
    body = event("checkout.session.completed", checkout(None))
    post(app.test_client(), body)
    event_id = _event_id(app, body["id"])
    response = admin.post(f"/admin/billing/events/{event_id}/link", data={"user": who})
    assert response.status_code == 303
    assert "No user" in admin.get("/admin/billing").get_data(as_text=True)
    assert events(app)[0][2] == Outcome.UNATTRIBUTED


def test_a_stored_event_can_be_replayed_without_a_second_effect(app, admin, make_user):
    _, bob = referred_pair(make_user)
    body = event("checkout.session.completed", checkout(bob))
    post(app.test_client(), body)
    event_id = _event_id(app, body["id"])
    response = admin.post(f"/admin/billing/events/{event_id}/replay")
    assert response.status_code == 303
    assert len(conversions(app)) == 1
    assert "recorded before" in admin.get("/admin/billing").get_data(as_text=True)


@pytest.mark.parametrize("event_id", [999, 2**31, 2**63])
def test_unknown_or_out_of_range_event_ids_are_404(admin, event_id):
    assert admin.post(f"/admin/billing/events/{event_id}/replay").status_code == 404


def test_only_admins_see_the_billing_page(app, make_user):
    make_user("ann@example.com", "Ann")
    client = app.test_client()
    assert client.get("/admin/billing").status_code == 302
    login(client, "ann@example.com")
    assert client.get("/admin/billing").status_code == 403


def test_rewards_and_referrer_pages_name_the_stripe_object_and_the_dispute(
    app, admin, make_user
):
    ann, bob = referred_pair(make_user)
    session = checkout(bob, amount=123_456, currency="jpy")
    post(app.test_client(), event("checkout.session.completed", session))
    post(
        app.test_client(),
        event("charge.dispute.created", dispute(session["payment_intent"])),
    )
    label = f"Stripe payment {session['payment_intent']}"
    rewards_page = admin.get("/admin/rewards").get_data(as_text=True)
    assert label in rewards_page and "badge-disputed" in rewards_page
    referrer_page = admin.get(f"/admin/referrers/{ann}").get_data(as_text=True)
    assert label in referrer_page and "¥123,456" in referrer_page
    reward = re.search(r'href="/admin/rewards/(\d+)"', rewards_page).group(1)
    detail = admin.get(f"/admin/rewards/{reward}").get_data(as_text=True)
    assert "payment disputed (fraudulent)" in detail


def test_three_decimal_amounts_are_shown_with_three_digits(app, admin, make_user):
    ann, bob = referred_pair(make_user)
    session = checkout(bob, amount=12_345, currency="kwd")
    post(app.test_client(), event("checkout.session.completed", session))
    referrer_page = admin.get(f"/admin/referrers/{ann}").get_data(as_text=True)
    assert "KWD 12.345" in referrer_page
