"""The offer shown to the people it is for: referrers on /referrals, invited visitors
on the landing and signup pages (the plugin's and a host's own).

The tests of /referrals run on both hosts (tests/hosts.py), the site and the
bookshop; those of the invitation on the signup and home pages are of the site's
pages (the plugin's signup, the site's home), and the last of the bookshop's own.
"""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from referral_site.referrals import code_of
from referral_site.referrals.program import service
from referral_site.referrals.rewards import conversions
from referral_site.referrals.rewards import engine as rewards
from tests.host_apps import BROWSER, Reader, bookshop_app, join_bookshop, shelf
from tests.reward_helpers import (
    SIGNED_UP_DAYS_AGO,
    backdate_signup,
    referred_pair,
    reward_ids,
)

MARCH = datetime(2026, 3, 10, 12, tzinfo=UTC)
DEFAULT_OFFER = (
    "Give your friends $5.00 off their first purchase, get $10.00 credit for each "
    "friend&#39;s first purchase."
)


def save(app, rules, **settings):
    data = {
        "rules": rules,
        "hold_days": 14,
        "attribution_window_days": 30,
        "attribution_model": "first_touch",
        "referrer_offer": "",
        "referred_offer": "",
    } | settings
    with app.test_request_context():
        service.save_program(data, based_on=None, actor_id=None)


def convert(app, user_id, external_id, amount=10_000):
    with app.app_context():
        conversions.record_conversion(
            user_id, kind="purchase", amount=amount, external_id=external_id,
            occurred_at=MARCH,
        )  # fmt: skip


@pytest.fixture
def on_host(host):
    """The host of the test (the site, then the bookshop): (app, make_user)."""
    return host.app, host.users


def page_of(host, email, path="/referrals") -> str:
    """The plugin's page at path, as the person with this email sees it."""
    client = host.client()
    host.sign_in(client, email)
    return client.get(host.url(path)).get_data(as_text=True)


def test_referrals_states_the_offer_of_the_rules_in_force(host, on_host):
    app, make_user = on_host
    make_user("ann@example.com", "Ann")
    assert DEFAULT_OFFER in page_of(host, "ann@example.com")
    save(
        app,
        [
            {"name": "s", "trigger": "every_conversion", "percent": 10},
            {"name": "w", "trigger": "signup", "recipient": "referred", "amount": 300},
        ],
    )
    assert (
        "Give your friends $3.00 off when they sign up, get 10% of every purchase "
        "your friends make." in page_of(host, "ann@example.com")
    )


def test_the_offers_own_wording_replaces_the_derived_one(host, on_host):
    app, make_user = on_host
    make_user("ann@example.com", "Ann")
    save(app, [{"name": "s", "trigger": "first_conversion", "amount": 500}],
         referrer_offer="Invite a friend, get a free month.")  # fmt: skip
    page = page_of(host, "ann@example.com")
    assert "Invite a friend, get a free month." in page
    assert DEFAULT_OFFER not in page


def test_referrals_shows_progress_to_the_next_milestone(host, on_host):
    app, make_user = on_host
    save(
        app,
        [
            {"name": "sale", "trigger": "first_conversion", "amount": 1000},
            {"name": "bonus", "trigger": "milestone", "amount": 5000,
             "milestones": [2, 5]},
        ],
    )  # fmt: skip
    _, bob = referred_pair(make_user)
    convert(app, bob, "ch_1")
    page = page_of(host, "ann@example.com")
    assert "1 of 2 friends have bought: 1 more for a $50.00 bonus" in page
    assert '<progress id="milestone-progress" max="2" value="1">' in page
    cat, _ = make_user("cat@example.com", "Cat", code=host.code("Ann"))
    backdate_signup(app, cat, days=SIGNED_UP_DAYS_AGO)  # joined before buying
    convert(app, cat, "ch_2")
    page = page_of(host, "ann@example.com")
    assert "2 of 5 friends have bought: 3 more for a $50.00 bonus" in page
    assert "(milestone: 2 friends)" in page


def test_no_milestone_progress_without_milestone_rules(host, on_host):
    _, make_user = on_host
    make_user("ann@example.com", "Ann")
    assert "data-milestone" not in page_of(host, "ann@example.com")


def test_each_reward_names_the_friend_it_is_for(host, on_host):
    app, make_user = on_host
    _, bob = referred_pair(make_user)
    convert(app, bob, "ch_1")
    ann_page = page_of(host, "ann@example.com")
    assert '<td data-label="For" data-friend>Bob</td>' in ann_page
    bob_page = page_of(host, "bob@example.com")
    assert '<td data-label="For" data-friend>Joining through Ann</td>' in bob_page


def test_a_rejected_reward_says_why(host, on_host):
    app, make_user = on_host
    _, bob = referred_pair(make_user)
    convert(app, bob, "ch_1")
    first = reward_ids(app)[0]
    with app.app_context():
        rewards.decide([first], "reject", actor_id=None, reason="Same household")
    assert "Why: Same household" in page_of(host, "ann@example.com")


def test_referrals_pages_through_all_rewards(make_host):
    host = make_host(REFERRALS_PAGE_SIZE=2)
    app = host.app
    save(app, [{"name": "each", "trigger": "every_conversion", "amount": 100}])
    _, bob = referred_pair(host.users)
    for number in range(5):
        convert(app, bob, f"ch_{number}")
    first = page_of(host, "ann@example.com")
    assert first.count('data-label="Granted"') == 2
    assert "Page 1 of 3" in first and "Older rewards" in first
    last = page_of(host, "ann@example.com", "/referrals?rewards_page=3")
    assert last.count('data-label="Granted"') == 1
    assert "Newer rewards" in last and "Older rewards" not in last


def test_a_visitor_through_a_link_sees_who_invited_them_and_the_offer(
    app, client, make_user
):
    code = make_user("ann@example.com", "Ann Lee")[1]
    client.get(f"/r/{code}", headers=BROWSER)
    page = client.get("/signup", headers=BROWSER).get_data(as_text=True)
    assert "<span data-inviter>Ann Lee</span> invited you" in page
    assert "Get $5.00 off your first purchase." in page
    assert "ann@example.com" not in page


def test_the_invitation_uses_the_referred_wording_in_force(app, client, make_user):
    code = make_user("ann@example.com", "Ann")[1]
    save(app, [{"name": "s", "trigger": "first_conversion", "amount": 500}],
         referred_offer="Your first box is on us.")  # fmt: skip
    client.get(f"/r/{code}", headers=BROWSER)
    page = client.get("/signup", headers=BROWSER).get_data(as_text=True)
    assert "Your first box is on us." in page


def test_the_home_page_opened_with_a_code_shows_the_invitation(app, client, make_user):
    code = make_user("ann@example.com", "Ann")[1]
    page = client.get(f"/?ref={code}", headers=BROWSER).get_data(as_text=True)
    assert "<span data-inviter>Ann</span> invited you" in page


@pytest.mark.parametrize("path", ["/signup", "/"])
def test_no_invitation_without_a_link(client, path):
    assert "data-invitation" not in client.get(path).get_data(as_text=True)


def test_an_inviter_named_by_email_only_is_a_friend(app, client, make_user):
    code = make_user("ann@example.com", "ann@example.com")[1]
    client.get(f"/r/{code}", headers=BROWSER)
    page = client.get("/signup", headers=BROWSER).get_data(as_text=True)
    assert "<span data-inviter>A friend</span> invited you" in page
    assert "ann@example.com" not in page


def test_a_host_with_its_own_signup_shows_the_invitation(tmp_path):
    with bookshop_app(tmp_path) as shop:
        join_bookshop(shop.test_client(), "ann")
        with shop.app_context():
            ann = shelf.session.scalar(
                sa.select(Reader.uid).where(Reader.username == "ann")
            )
            code = code_of(ann)
        visitor = shop.test_client()
        visitor.get(f"/r/{code}", headers=BROWSER)
        page = visitor.get("/join", headers=BROWSER).get_data(as_text=True)
    assert "ann invited you. Get $5.00 off your first purchase." in page
    assert "ann@example.com" not in page
