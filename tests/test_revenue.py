"""Referred revenue, reward cost and their ratio on /admin and a referrer's page."""

import re
from datetime import UTC, datetime, timedelta

from referral_site.referrals.rewards import conversions
from tests.conftest import get_account
from tests.reward_helpers import SIGNED_UP_DAYS_AGO, backdate_signup, referred_pair


def convert(app, user_id, external_id, amount, currency="USD", days_ago=1):
    with app.app_context():
        conversions.record_conversion(
            user_id,
            kind="purchase",
            amount=amount,
            currency=currency,
            external_id=external_id,
            occurred_at=datetime.now(UTC) - timedelta(days=days_ago),
        )


def refund(app, external_id):
    with app.app_context():
        conversions.refund_conversion(external_id)


def revenue_row(page: str, currency: str) -> dict:
    """The revenue table's cells of one currency, by their data-revenue key."""
    row = re.search(rf'<tr data-currency="{currency}">(.*?)</tr>', page, re.S)[1]
    cells = re.findall(r'data-revenue="(\w+)">(.*?)</td>', row, re.S)
    return {key: re.sub(r"\s+", " ", value).strip() for key, value in cells}


def revenue_table(page: str) -> str:
    return page[page.index('data-table="revenue"') :]


def seed(app, make_user):
    """Ann referred Bob and Cat; Dan referred Eve; Zoe was referred by nobody."""
    ann, bob = referred_pair(make_user)
    cat, _ = make_user(
        "cat@example.com", "Cat", code=get_account(app, "ann@example.com").code
    )
    dan, dan_code = make_user("dan@example.com", "Dan")
    eve, _ = make_user("eve@example.com", "Eve", code=dan_code)
    for referred in (cat, eve):  # joined before their purchases, as Bob did
        backdate_signup(app, referred, days=SIGNED_UP_DAYS_AGO)
    zoe, _ = make_user("zoe@example.com", "Zoe")
    convert(app, bob, "bob-1", 1_234_500)  # $12,345.00: rewards $10 + $5
    convert(app, bob, "bob-2", 100_000)  # a second purchase: no reward
    convert(app, cat, "cat-1", 50_000)  # refunded: its rewards are reversed
    refund(app, "cat-1")
    convert(app, eve, "eve-1", 20_000, currency="EUR")  # the default rule pays USD
    convert(app, zoe, "zoe-1", 999_999)  # not referred: no referred revenue
    convert(app, bob, "bob-old", 700_000, days_ago=45)  # before the 30 days
    return ann, dan


def test_the_report_shows_referred_revenue_net_of_refunds_and_the_cost(
    app, admin, make_user
):
    seed(app, make_user)
    page = revenue_table(admin.get("/admin?range=30d").get_data(as_text=True))
    assert revenue_row(page, "USD") == {
        "net": '$13,345.00 <span class="muted">(3 conversions)</span>',
        "refunded": "$500.00",
        "cost": "$30.00",  # bob's $10 + $5 and eve's $10 + $5; cat's reversed
        "ratio": "0.2%",
    }
    assert revenue_row(page, "EUR") == {
        "net": '€200.00 <span class="muted">(1 conversion)</span>',
        "refunded": "€0.00",
        "cost": "€0.00",
        "ratio": "0.0%",
    }


def test_all_time_counts_older_conversions(app, admin, make_user):
    seed(app, make_user)
    page = revenue_table(admin.get("/admin?range=all").get_data(as_text=True))
    assert revenue_row(page, "USD")["net"].startswith("$20,345.00")


def test_a_referrers_page_shows_only_their_referrals_revenue(app, admin, make_user):
    ann, dan = seed(app, make_user)
    page = revenue_table(
        admin.get(f"/admin/referrers/{ann}?range=30d").get_data(as_text=True)
    )
    assert revenue_row(page, "USD") == {
        "net": '$13,345.00 <span class="muted">(3 conversions)</span>',
        "refunded": "$500.00",
        "cost": "$15.00",
        "ratio": "0.1%",
    }
    assert 'data-currency="EUR"' not in page
    dans = revenue_table(admin.get(f"/admin/referrers/{dan}").get_data(as_text=True))
    assert revenue_row(dans, "EUR")["net"].startswith("€200.00")
    assert revenue_row(dans, "USD") == {
        "net": '$0.00 <span class="muted">(0 conversions)</span>',
        "refunded": "$0.00",
        "cost": "$15.00",
        "ratio": "–",
    }


def test_no_revenue_says_so(admin):
    page = admin.get("/admin").get_data(as_text=True)
    assert "No referred revenue or reward cost in this period." in page
