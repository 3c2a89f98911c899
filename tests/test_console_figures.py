"""The admin console's figures: totals, rates, pagers and conversions in time.

The tests run on both hosts (tests/hosts.py), the site and the bookshop.
"""

import re
from datetime import timedelta

import pytest

from referral_site.referrals.reports import figures as reports
from tests import host_fixtures
from tests.reward_helpers import (
    conversion_body,
    post_conversion,
)
from tests.test_reports import add_clicks, add_reward, days_ago, refer

# Each test here runs on both hosts.
app, make_user = host_fixtures.app, host_fixtures.make_user
client, admin = host_fixtures.client, host_fixtures.admin


def _cell(page: str, key: str) -> str:
    match = re.search(rf'data-reward="{key}"[^>]*>(?:<strong>)?([^<]*)<', page)
    assert match, key
    return match.group(1).strip()


def test_total_owed_or_paid_leaves_out_reversed_and_rejected_rewards(
    host, app, make_user, admin
):
    ann_id, _ = make_user("ann@example.com", "Ann")
    for amount, status in [
        (2500, "pending"),
        (1000, "review"),
        (2500, "approved"),
        (2500, "reversed"),
        (700, "rejected"),
    ]:
        add_reward(app, ann_id, amount, status=status)
    with app.app_context():
        (usd,) = reports.rewards_by_status()
    assert usd.total == 6000
    for path in ("/admin?range=all", f"/admin/referrers/{ann_id}?range=all"):
        page = admin.get(host.url(path)).get_data(as_text=True)
        assert _cell(page, "total") == "$60.00", path
        # Every amount the total adds up has its own column.
        assert _cell(page, "review") == "$10.00", path
        assert _cell(page, "reversed") == "$25.00", path


def test_counts_and_money_carry_thousands_separators(host, app, make_user, admin):
    ann_id, _ = make_user("ann@example.com", "Ann")
    add_reward(app, ann_id, 123_456_789, status="approved")
    add_clicks(app, ann_id, *([1.0] * 1_200))
    for path in ("/admin?range=all", f"/admin/referrers/{ann_id}?range=all"):
        page = admin.get(host.url(path)).get_data(as_text=True)
        assert "$1,234,567.89" in page, path
        assert 'data-stat="clicks">1,200<' in page, path


@pytest.mark.parametrize("path", ["/admin/rewards?status=pending", "/admin?range=all"])
def test_pagers_say_previous_and_next_not_older_and_newer(make_host, path):
    host = make_host(REFERRALS_PAGE_SIZE=1)
    app, make_user = host.app, host.users
    make_user("boss@example.com", "Boss", admin=True)
    ann_id, code = make_user("ann@example.com", "Ann")
    make_user("bob@example.com", "Bob", code=code)
    make_user("cy@example.com", "Cy", code=code)
    make_user("dee@example.com", "Dee", code=make_user("eve@example.com", "Eve")[1])
    for age in (3, 2, 1):
        add_reward(app, ann_id, 1000, status="pending", age=age)
    client = app.test_client()
    host.sign_in(client, "boss@example.com")
    page = client.get(host.url(path)).get_data(as_text=True)
    assert "Older" not in page and "Newer" not in page
    assert re.search(r'rel="next"[^>]*>Next', page)


def test_referrer_rates_count_one_cohort_and_never_pass_100_percent(
    host, app, make_user, admin
):
    ann_id, code = make_user("ann@example.com", "Ann")
    # Two people who signed up 40 days ago and converted 5 days ago, and one who
    # signed up 5 days ago and has not converted.
    refer(app, make_user, code, "old1@example.com", age=40, converted_age=5)
    refer(app, make_user, code, "old2@example.com", age=40, converted_age=5)
    refer(app, make_user, code, "new@example.com", age=5)
    for path in (f"/admin/referrers/{ann_id}?range=30d", "/admin?range=30d"):
        page = admin.get(host.url(path)).get_data(as_text=True)
        shares = [float(n) for n in re.findall(r"([\d.]+)%", page)]
        assert shares and max(shares) <= 100, path
        assert "of this period’s signups converted" in page, path


def test_a_conversion_dated_before_the_signup_is_refused(host, app, make_user):
    _, code = make_user("ann@example.com", "Ann")
    make_user("bob@example.com", "Bob", code=code)  # signs up now
    before = (days_ago(0) - timedelta(days=3)).isoformat()
    client = app.test_client()
    response = post_conversion(client, **conversion_body(occurred_at=before))
    assert response.status_code == 400
    assert "before the user signed up" in response.get_json()["errors"]["occurred_at"]
    ok = post_conversion(client, **conversion_body(occurred_at=days_ago(0).isoformat()))
    assert ok.status_code == 201
