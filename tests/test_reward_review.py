"""The admins' review queue at /admin/rewards and the rewards on /referrals.

The tests run on both hosts (tests/hosts.py), the site and the bookshop.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest

from referral_site.referrals.rewards import conversions
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.storage.models import RewardStatus
from tests import host_fixtures
from tests.reward_helpers import referred_pair, reward_ids, rewards_of

# Each test here runs on both hosts.
app, make_user = host_fixtures.app, host_fixtures.make_user
client, admin = host_fixtures.client, host_fixtures.admin


PAST = datetime.now(UTC) - timedelta(days=20)


@pytest.fixture
def queue(host, app, make_user):
    """An admin, a referrer and a referred user whose two rewards are approved."""
    make_user("boss@example.com", "Boss", admin=True)
    ann, bob = referred_pair(make_user)
    with app.app_context():
        conversions.record_conversion(
            bob, kind="purchase", amount=2500, external_id="ch_9", occurred_at=PAST
        )
        rewards.process_rewards()
    admin = app.test_client()
    host.sign_in(admin, "boss@example.com")
    return admin


def test_the_queue_is_for_admins_only(host, app, make_user):
    make_user()
    anonymous = app.test_client().get(host.url("/admin/rewards"))
    assert anonymous.status_code == host.signed_out_status
    user = app.test_client()
    host.sign_in(user, "ann@example.com")
    assert user.get(host.url("/admin/rewards")).status_code == 403
    assert (
        user.post(host.url("/admin/rewards"), data={"approve": "1"}).status_code == 403
    )
    assert user.get(host.url("/admin/rewards/1")).status_code == 403


def test_the_queue_shows_who_what_and_why(host, app, queue):
    page = queue.get(host.url("/admin/rewards?status=approved")).get_data(as_text=True)
    assert page.count('name="reward_ids"') == 2
    assert "first-conversion" in page and "$10.00" in page and "$5.00" in page
    assert "Ann" in page and "Bob" in page and "ch_9" in page
    assert "0 min" in page
    assert 'name="reward_ids"' not in queue.get(
        host.url("/admin/rewards?status=paid")
    ).get_data(as_text=True)


def test_an_unknown_filter_shows_everything(host, queue):
    page = queue.get(host.url("/admin/rewards?status=bogus")).get_data(as_text=True)
    assert page.count('name="reward_ids"') == 2


def test_admins_pay_in_bulk(host, app, queue):
    ids = reward_ids(app)
    data = {"reward_ids": ids, "status": "approved", "pay": "Mark paid"}
    asked = queue.post(host.url("/admin/rewards"), data=data)
    # A decision on several rewards is shown back first, with what it moves.
    assert asked.status_code == 200
    assert "Mark paid 2 rewards?" in asked.get_data(as_text=True)
    assert reward_ids(app, RewardStatus.PAID) == []
    response = queue.post(host.url("/admin/rewards"), data=data | {"confirmed": "yes"})
    assert response.status_code == 302
    assert response.headers["Location"] == host.url("/admin/rewards?status=approved")
    assert reward_ids(app, RewardStatus.PAID) == ids
    page = queue.get(host.url("/admin/rewards?status=approved")).get_data(as_text=True)
    assert "2 rewards marked paid." in page


def test_rejecting_needs_a_reason(host, app, queue):
    ids = reward_ids(app)
    response = queue.post(
        host.url("/admin/rewards"), data={"reward_ids": ids, "reject": "1"}
    )
    assert response.status_code == 400
    assert "Give a reason to reject." in response.get_data(as_text=True)
    assert reward_ids(app, RewardStatus.APPROVED) == ids


def test_a_decision_without_a_selection_or_button_is_refused(host, app, queue):
    nothing = queue.post(host.url("/admin/rewards"), data={"approve": "1"})
    assert nothing.status_code == 400
    assert "Select at least one reward." in nothing.get_data(as_text=True)
    no_button = queue.post(
        host.url("/admin/rewards"), data={"reward_ids": reward_ids(app)}
    )
    assert no_button.status_code == 400
    bad_id = queue.post(
        host.url("/admin/rewards"), data={"reward_ids": "x", "pay": "1"}
    )
    assert bad_id.status_code == 400


def test_one_reward_page_rejects_with_a_reason_and_shows_the_history(host, app, queue):
    first = reward_ids(app)[0]
    response = queue.post(
        host.url(f"/admin/rewards/{first}"),
        data={"reject": "Reject", "reason": "self-referral by a second account"},
    )
    assert response.status_code == 302
    page = queue.get(host.url(f"/admin/rewards/{first}")).get_data(as_text=True)
    assert "self-referral by a second account" in page and "Boss" in page
    assert re.search(
        r"new → pending.*pending → approved.*approved → rejected", page, re.S
    )
    assert rewards_of(app)[0][4] == RewardStatus.REJECTED


def test_a_second_decision_on_the_same_reward_gets_a_clear_message(host, app, queue):
    first = reward_ids(app)[0]
    queue.post(host.url(f"/admin/rewards/{first}"), data={"pay": "1"})
    queue.get(host.url(f"/admin/rewards/{first}"))  # consume the first flash
    queue.post(
        host.url(f"/admin/rewards/{first}"), data={"reject": "1", "reason": "late"}
    )
    page = queue.get(host.url(f"/admin/rewards/{first}")).get_data(as_text=True)
    assert f"Reward #{first} is paid; it cannot become rejected." in page
    assert rewards_of(app)[0][4] == RewardStatus.PAID


def test_a_missing_reward_is_404(host, queue):
    assert queue.get(host.url("/admin/rewards/9999")).status_code == 404


def test_decisions_need_a_csrf_token(host, app, make_user):
    make_user("boss@example.com", "Boss", admin=True)
    _, bob = referred_pair(make_user)
    with app.app_context():
        conversions.record_conversion(
            bob, kind="purchase", amount=100, external_id="c", occurred_at=PAST
        )
        rewards.process_rewards()
    admin = app.test_client()
    host.sign_in(admin, "boss@example.com")
    app.config["WTF_CSRF_ENABLED"] = True  # the site's tests turn it off
    ids = reward_ids(app)
    refused = admin.post(
        host.url("/admin/rewards"), data={"reward_ids": ids, "pay": "1"}, csrf=False
    )
    assert refused.status_code == 400
    assert reward_ids(app, RewardStatus.APPROVED) == ids
    queue_page = admin.get(host.url("/admin/rewards")).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', queue_page)[1]
    accepted = admin.post(
        host.url("/admin/rewards"),
        data={"reward_ids": ids, "pay": "1", "csrf_token": token, "confirmed": "yes"},
    )
    assert accepted.status_code == 302
    assert reward_ids(app, RewardStatus.PAID) == ids


def test_users_see_their_own_rewards_and_totals(host, app, queue):
    ann_id = rewards_of(app)[0][0]
    queue.post(host.url(f"/admin/rewards/{reward_ids(app)[0]}"), data={"pay": "1"})
    ann = app.test_client()
    host.sign_in(ann, "ann@example.com")
    page = ann.get(host.url("/referrals")).get_data(as_text=True)
    assert re.search(r'data-total="paid">\$10.00<', page)
    assert re.search(r'data-total="approved">\$0.00<', page)
    # Bob's reward is Bob's (the offer above the rewards names both amounts).
    assert "$5.00" not in page[page.index("data-reward-totals") :]
    bob = app.test_client()
    host.sign_in(bob, "bob@example.com")
    page = bob.get(host.url("/referrals")).get_data(as_text=True)
    assert re.search(r'data-total="approved">\$5.00<', page)
    assert "$10.00" not in page[page.index("data-reward-totals") :]
    assert ann_id != rewards_of(app)[1][0]


def test_pending_rewards_show_their_hold(host, app, make_user):
    _, bob = referred_pair(make_user)
    with app.app_context():
        conversions.record_conversion(bob, kind="purchase", amount=100, external_id="c")
    ann = app.test_client()
    host.sign_in(ann, "ann@example.com")
    page = ann.get(host.url("/referrals")).get_data(as_text=True)
    assert re.search(r'data-total="pending">\$10.00<', page)
    assert "until 20" in page


def test_a_user_without_rewards_sees_how_to_earn_them(host, client, make_user):
    make_user()
    host.sign_in(client, "ann@example.com")
    assert "No rewards yet." in client.get(host.url("/referrals")).get_data(
        as_text=True
    )


def test_review_pages_have_no_inline_script_or_style(host, app, queue):
    for url in ["/admin/rewards", f"/admin/rewards/{reward_ids(app)[0]}"]:
        page = queue.get(url).get_data(as_text=True)
        assert "style=" not in page and "<script>" not in page
