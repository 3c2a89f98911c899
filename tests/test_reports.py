"""The admin report, its exports and the figures behind both pages.

The tests run on both hosts (tests/hosts.py), the site and the bookshop.
"""

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import segno
import sqlalchemy as sa

from referral_site.referrals.reports import figures as reports
from referral_site.referrals.rewards.money import format_money, format_plain
from referral_site.referrals.storage.models import (
    CaptureSource,
    Referral,
    ReferralStatus,
    Reward,
    RewardKind,
    RewardStatus,
    Visit,
    utcnow,
)
from referral_site.referrals.storage.transactions import write_transaction
from tests import host_fixtures
from tests.qr_matrix import svg_path_matrix, with_border

# Each test here runs on both hosts.
app, make_user = host_fixtures.app, host_fixtures.make_user
client, admin = host_fixtures.client, host_fixtures.admin


def days_ago(n: float) -> datetime:
    return utcnow() - timedelta(days=n)


def add_clicks(app, referrer_id: int, *ages: float) -> None:
    """Visits on a referrer's link, n days old each."""
    with app.app_context(), write_transaction() as session:
        for age in ages:
            session.add(
                Visit(
                    code="X",
                    referrer_id=referrer_id,
                    visitor_id=uuid.uuid4().hex,  # a visitor each (32 characters)
                    landing_path="/r/X",
                    source=CaptureSource.LINK,
                    created_at=days_ago(age),
                )
            )


def refer(app, make_user, code: str, email: str, *, age=0.0, converted_age=None):
    """A referred signup made age days ago, converted converted_age days ago."""
    user_id, _ = make_user(email, email.split("@")[0].title(), code=code)
    with app.app_context(), write_transaction() as session:
        referral = session.scalar(
            sa.select(Referral).where(Referral.referred_id == user_id)
        )
        referral.created_at = days_ago(age)
        if converted_age is not None:
            referral.status = ReferralStatus.CONVERTED
            referral.converted_at = days_ago(converted_age)
        return referral.id


def add_reward(app, user_id, amount, currency="USD", status="pending", age=0.0):
    with app.app_context(), write_transaction() as session:
        session.add(
            Reward(
                user_id=user_id,
                kind=RewardKind.CREDIT,
                amount_minor=amount,
                currency=currency,
                status=RewardStatus(status),
                created_at=days_ago(age),
            )
        )


def stat(page: str, key: str) -> str:
    match = re.search(rf'data-stat="{key}">([^<]*)<', page)
    assert match, key
    return match.group(1)


@pytest.mark.parametrize(
    ("amount", "currency", "shown", "plain"),
    [
        (1000, "USD", "$10.00", "10.00"),
        (5, "EUR", "€0.05", "0.05"),
        (123456, "CHF", "CHF 1,234.56", "1234.56"),
        (500, "JPY", "¥500", "500"),
        (-250, "USD", "-$2.50", "-2.50"),
        (1234, "KWD", "KWD 1.234", "1.234"),
        (0, "usd", "$0.00", "0.00"),
    ],
)
def test_money_is_formatted_from_integer_minor_units(amount, currency, shown, plain):
    assert format_money(amount, currency) == shown
    assert format_plain(amount, currency) == plain


@pytest.mark.parametrize(
    ("key", "expected_key", "first_day"),
    [
        ("7d", "7d", date(2026, 3, 4)),
        ("30d", "30d", date(2026, 2, 9)),
        ("90d", "90d", date(2025, 12, 11)),
        ("all", "all", None),
        ("bogus", "30d", date(2026, 2, 9)),
        (None, "30d", date(2026, 2, 9)),
    ],
)
def test_date_range_presets_start_at_midnight_utc(key, expected_key, first_day):
    period = reports.date_range(key, now=datetime(2026, 3, 10, 15, 30, tzinfo=UTC))
    assert period.key == expected_key
    if first_day is None:
        assert period.start is None
    else:
        assert period.start == datetime.combine(first_day, datetime.min.time(), UTC)


def test_report_figures_follow_the_date_range(host, app, make_user, admin):
    ann_id, ann = make_user("ann@example.com", "Ann")
    add_clicks(app, ann_id, 1, 2, 3, 40, 41, 100)
    refer(app, make_user, ann, "bob@example.com", age=1, converted_age=0.5)
    refer(app, make_user, ann, "cat@example.com", age=20, converted_age=10)
    refer(app, make_user, ann, "dan@example.com", age=60, converted_age=59)
    refer(app, make_user, ann, "eve@example.com", age=200)
    add_reward(app, ann_id, 1000, age=1)
    add_reward(app, ann_id, 2500, age=50)
    expected = {
        "7d": ("3", "1", "1", "$10.00"),
        "30d": ("3", "2", "2", "$10.00"),
        "90d": ("5", "3", "3", "$35.00"),
        "all": ("6", "4", "3", "$35.00"),
    }
    for key, (clicks, signups, conversions, pending) in expected.items():
        page = admin.get(host.url(f"/admin?range={key}")).get_data(as_text=True)
        assert stat(page, "clicks") == clicks, key
        assert stat(page, "referred-signups") == signups, key
        assert stat(page, "conversions") == conversions, key
        assert re.search(rf'data-reward="pending">{re.escape(pending)} ', page), key
        assert 'aria-current="true" class="is-current"' in page


def test_rewards_are_totalled_per_currency_and_status(host, app, make_user, admin):
    ann_id, _ = make_user("ann@example.com", "Ann")
    for amount, currency, status in [
        (1000, "USD", "pending"),
        (1500, "USD", "pending"),
        (700, "USD", "paid"),
        (300, "USD", "rejected"),
        (2000, "EUR", "approved"),
    ]:
        add_reward(app, ann_id, amount, currency, status)
    with app.app_context():
        totals = {row.currency: row for row in reports.rewards_by_status()}
    assert totals["USD"].amount("pending") == 2500
    assert totals["USD"].count("pending") == 2
    assert totals["USD"].total == 3200  # rejected rewards are not owed
    assert totals["EUR"].amount("approved") == 2000
    page = admin.get(host.url("/admin")).get_data(as_text=True)
    assert "$25.00 <span" in page and "€20.00 <span" in page
    assert "<strong>$32.00</strong>" in page


def test_leaderboard_ranks_referrers_and_links_to_their_page(
    host, app, make_user, admin
):
    ann_id, ann = make_user("ann@example.com", "Ann")
    cat_id, cat = make_user("cat@example.com", "Cat")
    add_clicks(app, cat_id, 1, 1, 1)
    refer(app, make_user, ann, "bob@example.com")
    refer(app, make_user, ann, "dan@example.com", converted_age=0)
    refer(app, make_user, cat, "eve@example.com")
    add_reward(app, ann_id, 1000, "USD", "approved")
    add_reward(app, ann_id, 500, "EUR", "pending")
    add_reward(app, ann_id, 9900, "USD", "rejected")
    page = admin.get(host.url("/admin")).get_data(as_text=True)
    assert page.index("Ann") < page.index("Cat")
    assert f'href="{host.url(f"/admin/referrers/{ann_id}")}?range=30d"' in page
    ann_row = page[page.index(f'data-referrer-id="{ann_id}"') :]
    assert (
        '<span class="block">€5.00</span><span class="block">$10.00</span>' in ann_row
    )
    detail = admin.get(host.url(f"/admin/referrers/{ann_id}?range=all")).get_data(
        as_text=True
    )
    assert stat(detail, "referred-signups") == "2"
    assert stat(detail, "conversions") == "1"
    assert "bob@example.com" in detail and "eve@example.com" not in detail


def test_leaderboard_is_paginated(make_host):
    host = make_host(REFERRALS_PAGE_SIZE=2)
    app, make_user = host.app, host.users
    make_user("boss@example.com", "Boss", admin=True)
    for n in range(5):
        user_id, _ = make_user(f"r{n}@example.com", f"Referrer {n}")
        add_clicks(app, user_id, *([0.5] * (n + 1)))
    client = host.client()
    host.sign_in(client, "boss@example.com")
    first = client.get(host.url("/admin")).get_data(as_text=True)
    last = client.get(host.url("/admin?page=3")).get_data(as_text=True)
    assert "Page 1 of 3" in first and "Referrer 4" in first
    assert "Referrer 0" in last and "Referrer 4" not in last
    assert "5 referrers active" in first


def test_unknown_referrer_page_is_404(host, admin):
    assert admin.get(host.url("/admin/referrers/999999")).status_code == 404


@pytest.mark.parametrize(
    "path",
    ["/admin", "/admin/referrers/{ann_id}", "/admin/export/referrals.csv"],
)
def test_report_pages_are_forbidden_to_users(host, client, make_user, path):
    ann_id, _ = make_user()
    host.sign_in(client, "ann@example.com")
    assert client.get(host.url(path.format(ann_id=ann_id))).status_code == 403


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_csv_exports_stream_the_selected_range(host, app, make_user, admin):
    ann_id, ann = make_user("ann@example.com", "Ann")
    add_clicks(app, ann_id, 1, 2)
    refer(app, make_user, ann, "bob@example.com", age=1, converted_age=1)
    refer(app, make_user, ann, "old@example.com", age=100)
    add_reward(app, ann_id, 1234, "USD", "approved", age=1)
    add_reward(app, ann_id, 99, "EUR", "paid", age=100)

    response = admin.get(host.url("/admin/export/referrals.csv?range=7d"))
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert 'filename="referrals-7d.csv"' in response.headers["Content-Disposition"]
    rows = _csv(response)
    assert [r["referred_email"] for r in rows] == ["bob@example.com"]
    assert rows[0]["status"] == "converted" and rows[0]["referrer_email"] == (
        "ann@example.com"
    )
    assert len(_csv(admin.get(host.url("/admin/export/referrals.csv?range=all")))) == 2

    rewards = _csv(admin.get(host.url("/admin/export/rewards.csv?range=7d")))
    assert [(r["amount"], r["currency"], r["amount_minor"]) for r in rewards] == [
        ("12.34", "USD", "1234")
    ]
    leaders = _csv(admin.get(host.url("/admin/export/leaderboard.csv?range=all")))
    assert leaders == [
        {
            "rank": "1",
            "referrer_id": str(ann_id),
            "name": "Ann",
            "email": "ann@example.com",
            "code": ann,
            "clicks": "2",
            "signups": "2",
            "conversions": "1",
            "rewards": "2",
            "reward_totals": "EUR 0.99 USD 12.34",
        }
    ]


def test_csv_export_defuses_spreadsheet_formulas(host, app, make_user, admin):
    _, ann = make_user("ann@example.com", "Ann")
    make_user("x@example.com", "=HYPERLINK(1)", code=ann)
    rows = _csv(admin.get(host.url("/admin/export/referrals.csv")))
    assert rows[0]["referred_name"] == "'=HYPERLINK(1)"


def test_unknown_export_is_404(host, admin):
    assert admin.get(host.url("/admin/export/passwords.csv")).status_code == 404


def test_daily_series_counts_each_utc_day_and_fills_gaps(host, app, make_user):
    ann_id, ann = make_user("ann@example.com", "Ann")
    add_clicks(app, ann_id, 0, 0, 2)
    refer(app, make_user, ann, "bob@example.com", age=2, converted_age=0)
    with app.app_context():
        today = utcnow().date()
        series = reports.daily_series(reports.date_range("7d"), today=today)
    assert len(series.days) == 7 and series.days[-1] == today
    assert series.clicks[-1] == 2 and series.clicks[-3] == 1
    assert series.signups[-3] == 1 and series.conversions[-1] == 1
    assert sum(series.clicks) == 3


def test_report_chart_is_inline_svg_with_axes(host, admin):
    page = admin.get(host.url("/admin?range=7d")).get_data(as_text=True)
    chart = page[page.index('<svg class="chart"') : page.index("</svg>")]
    assert 'role="img"' in chart and "<title" in chart
    assert "Day (UTC)" in chart and "Count" in chart
    assert chart.count('data-series="') == 3


def test_my_referrals_shows_reward_totals_by_status(host, app, make_user):
    ann_id, _ = make_user("ann@example.com", "Ann")
    add_reward(app, ann_id, 1000, "USD", "pending")
    add_reward(app, ann_id, 500, "USD", "review")  # pending to the user too
    add_reward(app, ann_id, 700, "USD", "paid")
    add_reward(app, ann_id, 400, "EUR", "paid")
    add_reward(app, ann_id, 900, "EUR", "rejected")  # in no balance
    client = app.test_client()
    host.sign_in(client, "ann@example.com")
    page = client.get(host.url("/referrals")).get_data(as_text=True)
    assert re.search(
        r'data-stat="rewards-pending">\s*<span class="amount">\$15\.00</span>\s*<',
        page,
    )
    usd = page[page.index('data-currency="USD"') :]
    assert re.search(r'data-total="pending">\$15\.00<', usd)
    eur = page[page.index('data-currency="EUR"') :]
    assert re.search(
        r'data-total="pending">€0\.00<.*data-total="paid">€4\.00<', eur, re.S
    )
    paid = page[page.index('data-stat="rewards-paid"') :]
    assert "€4.00" in paid[:200] and "$7.00" in paid[:200]


def test_qr_code_encodes_the_users_link(host, client, make_user):
    _, code = make_user()
    host.sign_in(client, "ann@example.com")
    response = client.get(host.url("/referrals/qr.svg?download=1"))
    assert response.mimetype == "image/svg+xml"
    assert "attachment" in response.headers["Content-Disposition"]
    link = f"http://localhost{host.url(f'/r/{code}')}"
    expected = segno.make(link, error="m", boost_error=False)
    svg = response.get_data(as_text=True)
    assert svg_path_matrix(svg) == with_border(expected.matrix, 4)
    page = client.get(host.url("/referrals")).get_data(as_text=True)
    inline = page[page.index('<svg role="img"') : page.index("</svg>") + 6]
    assert svg_path_matrix(inline) == svg_path_matrix(svg)


def test_qr_code_needs_a_login(host, client):
    signed_out = client.get(host.url("/referrals/qr.svg"))
    assert signed_out.status_code == host.signed_out_status


def _count_queries(app, client, path: str) -> int:
    with app.app_context():
        engine = app.extensions["referrals"].db.engine
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(path).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return len(statements)


PATHS = [
    "/admin",
    "/admin?range=all",
    "/admin/referrers/{ann_id}?range=all",
    "/admin/export/referrals.csv?range=all",
    "/admin/export/leaderboard.csv?range=all",
    "/referrals",
]


def test_pages_issue_a_fixed_number_of_queries_whatever_the_data(host, app, make_user):
    make_user("boss@example.com", "Boss", admin=True)
    ann_id, ann = make_user("ann@example.com", "Ann")
    admin, owner = app.test_client(), app.test_client()
    host.sign_in(admin, "boss@example.com")
    host.sign_in(owner, "ann@example.com")

    def counts():
        return {
            path: _count_queries(
                app,
                owner if path == "/referrals" else admin,
                host.url(path.format(ann_id=ann_id)),
            )
            for path in PATHS
        }

    refer(app, make_user, ann, "first@example.com", converted_age=0)
    counts()  # a session's first request also records its device sighting
    small = counts()
    for n in range(12):
        user_id, code = make_user(f"r{n}@example.com", f"R{n}", code=ann)
        add_clicks(app, user_id, 0, 1, 2)
        refer(app, make_user, code, f"f{n}@example.com", converted_age=0)
        add_reward(app, user_id, 100 + n, "EUR" if n % 2 else "USD")
    add_clicks(app, ann_id, *range(20))
    large = counts()
    assert large == small
    # /referrals: user, sighting check, funnel, reward totals, the rewards list and
    # balances, account codes, referred people and their count; then payouts: the
    # person's details, a change of them awaiting confirmation, what is due,
    # payouts made, store credit.
    assert large["/referrals"] <= 17
    # A person's admin page adds the console's two counts (rewards awaiting a
    # decision, flagged referrals), who referred them, codes, notes, disabled.
    assert max(n for path, n in large.items() if path != "/referrals") <= 16


def test_pages_have_no_inline_scripts_styles_or_handlers(host, app, make_user, admin):
    ann_id, _ = make_user("ann@example.com", "Ann")
    owner = app.test_client()
    host.sign_in(owner, "ann@example.com")
    pages = [
        admin.get(host.url("/admin")).get_data(as_text=True),
        admin.get(host.url(f"/admin/referrers/{ann_id}")).get_data(as_text=True),
        owner.get(host.url("/referrals")).get_data(as_text=True),
        app.test_client().get(host.landing).get_data(as_text=True),
        app.test_client().get("/nope").get_data(as_text=True),
    ]
    for page in pages:
        assert not re.search(r"<script(?![^>]*\ssrc=)", page)
        assert not re.search(r"\sstyle=", page)
        assert not re.search(r"\son[a-z]+=", page)


def test_daily_numbers_table_lists_each_day_newest_first(host, app, make_user, admin):
    ann_id, _ = make_user("ann@example.com", "Ann")
    add_clicks(app, ann_id, 0, 0, 1)
    page = admin.get(host.url("/admin?range=7d")).get_data(as_text=True)
    table = page[page.index('data-table="daily"') :]
    cells = re.findall(r'<td class="num">(\d+)</td>', table[: table.index("</table>")])
    assert len(cells) == 21  # 7 days x 3 figures
    assert cells[0] == "2" and cells[3] == "1" and cells[6:] == ["0"] * 15


def test_a_page_past_the_end_shows_the_last_page(host, app, client, make_user):
    """A huge ?page= never reaches the database's OFFSET (64-bit at most)."""
    make_user("ann@example.com")
    host.sign_in(client, "ann@example.com")
    response = client.get(host.url("/referrals?page=99999999999999999999999"))
    assert response.status_code == 200


def test_a_leaderboard_page_past_the_end_shows_the_last_page(host, admin):
    for range_key in ("all", "30d"):
        page = admin.get(
            host.url(f"/admin?range={range_key}&page=99999999999999999999999")
        )
        assert page.status_code == 200
