"""Deciding on rewards in the console: reasons, confirmations, clawbacks, the queue.

The tests run on both hosts (tests/hosts.py), the site and the bookshop.
"""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from referral_site.referrals.fraud import review as fraud
from referral_site.referrals.fraud.evidence import Signal
from referral_site.referrals.fraud.models import FraudSignal
from referral_site.referrals.rewards import conversions
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.storage.models import Referral, Reward, RewardStatus
from tests import host_fixtures
from tests.conftest import scalar
from tests.reward_helpers import referred_pair, reward_ids, rewards_of
from tests.test_reports import add_reward

# Each test here runs on both hosts.
app, make_user = host_fixtures.app, host_fixtures.make_user
client, admin = host_fixtures.client, host_fixtures.admin


PAST = datetime.now(UTC) - timedelta(days=20)


@pytest.fixture
def approved(host, app, make_user):
    """Ann referred Bob, whose purchase gave both an approved reward; an admin."""
    make_user("boss@example.com", "Boss", admin=True)
    referred_pair(make_user)
    with app.app_context():
        conversions.record_conversion(
            scalar(app, sa.select(Referral.referred_id)),
            kind="purchase",
            amount=2500,
            external_id="ch_9",
            occurred_at=PAST,
        )
        rewards.process_rewards()
    admin = app.test_client()
    host.sign_in(admin, "boss@example.com")
    return admin


def _flag(app) -> int:
    referral_id = scalar(app, sa.select(Referral.id))
    with app.app_context():
        fraud.flag_referral(
            referral_id, [Signal(FraudSignal.SAME_IP, "Same network as Ann.")]
        )
    return referral_id


def test_a_flagged_rewards_page_shows_why_and_asks_before_releasing_it(
    host, app, approved
):
    _flag(app)  # its approved rewards go back to review
    reward_id = reward_ids(app)[0]
    page = approved.get(host.url(f"/admin/rewards/{reward_id}")).get_data(as_text=True)
    assert "same ip: Same network as Ann." in page
    assert 'name="confirm_flagged"' in page
    refused = approved.post(
        host.url(f"/admin/rewards/{reward_id}"),
        data={"approve": "1"},
        follow_redirects=True,
    )
    assert "which is flagged" in refused.get_data(as_text=True)
    assert rewards_of(app, id=reward_id)[0][4] == RewardStatus.REVIEW
    approved.post(
        host.url(f"/admin/rewards/{reward_id}"),
        data={"approve": "1", "confirm_flagged": "y"},
    )
    assert rewards_of(app, id=reward_id)[0][4] == RewardStatus.APPROVED


def test_the_queue_row_says_why_a_reward_is_in_review(host, app, approved):
    _flag(app)
    page = approved.get(host.url("/admin/rewards?status=review")).get_data(as_text=True)
    assert page.count("same ip: Same network as Ann.") == 2


def test_confirming_abuse_on_paid_rewards_says_so_and_offers_the_clawback(
    host, app, approved
):
    ids = reward_ids(app)
    with app.app_context():
        rewards.decide(ids, "pay", actor_id=host.user_id("boss@example.com"))
    referral_id = _flag(app)
    done = approved.post(
        host.url("/admin/fraud/decide"),
        data={"referral_ids": [referral_id], "reason": "own account", "confirm": "1"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "1 referral confirmed as abuse." in done
    assert f"Referral #{referral_id} had rewards already paid: #{ids[0]} ($10.00)" in (
        done
    )
    confirmed = approved.get(host.url("/admin/fraud?status=confirmed")).get_data(
        as_text=True
    )
    assert "Paid, not clawed back" in confirmed
    page = approved.get(host.url(f"/admin/rewards/{ids[0]}")).get_data(as_text=True)
    assert "Claw back" in page and 'name="approve"' not in page
    approved.post(
        host.url(f"/admin/rewards/{ids[0]}/claw-back"), data={"reason": "abuse"}
    )
    assert rewards_of(app, rule="adjustment") == [
        (rewards_of(app)[0][0], "adjustment", -1000, "USD", RewardStatus.APPROVED)
    ]
    again = approved.post(
        host.url(f"/admin/rewards/{ids[0]}/claw-back"),
        data={"reason": "abuse"},
        follow_redirects=True,
    )
    assert "already clawed back" in again.get_data(as_text=True)


@pytest.mark.parametrize(
    ("status", "offered"),
    [
        ("approved", {"pay", "reject"}),
        ("paid", set()),
        ("rejected", set()),
    ],
)
def test_a_rewards_page_offers_only_the_decisions_its_status_allows(
    host, app, approved, status, offered
):
    reward_id = reward_ids(app)[0]
    if status != "approved":
        action = {"paid": "pay", "rejected": "reject"}[status]
        with app.app_context():
            rewards.decide(
                [reward_id],
                action,
                actor_id=host.user_id("boss@example.com"),
                reason="x",
            )
    page = approved.get(host.url(f"/admin/rewards/{reward_id}")).get_data(as_text=True)
    shown = set(re.findall(r'name="(approve|reject|pay)"', page))
    assert shown == offered


def test_a_decision_is_reported_in_words(host, app, approved):
    reward_id = reward_ids(app)[0]
    page = approved.post(
        host.url(f"/admin/rewards/{reward_id}"),
        data={"pay": "1"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "1 reward marked paid." in page and "reward(s)" not in page


def test_select_all_matching_decides_every_reward_of_the_filter_after_confirming(
    host, app, approved
):
    data = {"scope": "matching", "status": "approved", "pay": "1"}
    queue = host.url("/admin/rewards")
    asked = approved.post(queue, data=data).get_data(as_text=True)
    assert "Mark paid 2 rewards?" in asked and "2 in USD: $15.00" in asked
    assert reward_ids(app, RewardStatus.PAID) == []
    approved.post(queue, data=data | {"confirmed": "yes"})
    assert reward_ids(app, RewardStatus.PAID) == reward_ids(app)


def test_the_queue_filters_by_person_rule_date_and_ready(
    host, app, approved, make_user
):
    _, bob = (row[0] for row in rewards_of(app))
    # A referrer's own rewards and those of the people they referred.
    assert _rows(approved, "?person=ANN@example.com") == reward_ids(app)
    assert _rows(approved, f"?person={bob}") == [reward_ids(app)[1]]
    assert _rows(approved, "?person=nobody@example.com") == []
    assert _rows(approved, "?person=' OR 1=1 --") == []  # text: no integer key
    assert len(_rows(approved, "?rule=first-conversion")) == 2
    assert _rows(approved, "?rule=no-such-rule") == []
    today = datetime.now(UTC).date()
    assert _rows(approved, f"?since={today + timedelta(days=1)}") == []
    assert len(_rows(approved, f"?until={today}&since=not-a-date")) == 2
    assert _rows(approved, "?status=ready") == []  # approved already
    add_reward(app, bob, 700, status="pending", age=30)  # its hold is over
    assert len(_rows(approved, "?status=ready")) == 1


def test_the_queue_sorts_by_amount_both_ways(host, app, approved):
    ascending = _rows(approved, "?sort=amount")
    assert _rows(approved, "?sort=amount&order=desc") == ascending[::-1]
    assert _rows(approved, "?sort=bogus") == reward_ids(app)


def _rows(client, query: str) -> list[int]:
    prefix = client.application.config["REFERRALS_URL_PREFIX"]
    page = client.get(f"{prefix}/admin/rewards{query}").get_data(as_text=True)
    return [int(n) for n in re.findall(r'<tr data-reward="(\d+)"', page)]


def test_names_in_the_queue_link_to_their_pages(host, app, approved):
    page = approved.get(host.url("/admin/rewards")).get_data(as_text=True)
    for user_id in {row[0] for row in rewards_of(app)}:
        assert f'href="{host.url(f"/admin/referrers/{user_id}")}"' in page


def test_the_rewards_csv_filters_by_status_and_carries_rule_source_and_paid_date(
    host, app, approved
):
    first = reward_ids(app)[0]
    with app.app_context():
        rewards.decide([first], "pay", actor_id=host.user_id("boss@example.com"))
    response = approved.get(host.url("/admin/export/rewards.csv?range=all&status=paid"))
    assert "rewards-all-paid.csv" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [int(row["reward_id"]) for row in rows] == [first]
    (row,) = rows
    assert row["rule"] == "first-conversion"
    assert row["conversion_external_id"] == "ch_9"
    assert row["paid_at"][:10] == datetime.now(UTC).date().isoformat()
    everything = approved.get(
        host.url("/admin/export/rewards.csv?range=all&status=x\r\nX: y")
    )
    assert (
        len(list(csv.DictReader(io.StringIO(everything.get_data(as_text=True))))) == 2
    )
    assert "\r\nX" not in everything.headers["Content-Disposition"]


def test_a_manual_deduction_below_zero_is_refused_to_anyone_else(host, app, approved):
    """Only the manual-deduction rule may hold a negative amount with no source."""
    from referral_site.referrals.storage.transactions import write_transaction

    ann = rewards_of(app)[0][0]
    with pytest.raises(sa.exc.IntegrityError), app.app_context():
        with write_transaction() as session:
            session.add(
                Reward(
                    user_id=ann,
                    kind="credit",
                    amount_minor=-100,
                    currency="USD",
                    rule="first-conversion",
                )
            )
