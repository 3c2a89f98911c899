"""The leaderboard's sources: exact all-time totals, rankings of the range presets.

The tests run on both hosts (tests/hosts.py), the site and the bookshop.
"""

import re
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from referral_site.referrals.reports import figures as reports
from referral_site.referrals.reports import leaderboard, rankings
from referral_site.referrals.reports.models import (
    RankedReferrer,
    RankedReward,
    RankingSnapshot,
)
from referral_site.referrals.storage.models import (
    Referral,
    ReferralAccount,
    ReferralStatus,
    Reward,
    RewardStatus,
    Visit,
    utcnow,
)
from tests import host_fixtures
from tests.conftest import plugin_session
from tests.test_reports import _count_queries, _csv, add_clicks, add_reward, refer

# Each test here runs on both hosts.
app, make_user = host_fixtures.app, host_fixtures.make_user
client, admin = host_fixtures.client, host_fixtures.admin


@pytest.fixture
def runner(host):
    return host.app.test_cli_runner()


def refresh(runner) -> str:
    result = runner.invoke(args=["referrals", "refresh-leaderboards"])
    assert result.exit_code == 0, result.output
    return result.output


def counted_from_rows(app, days: int | None) -> list[tuple]:
    """(id, clicks, signups, conversions) per active referrer in the last `days`
    days (None: all time), counted from visits and referrals, best first."""
    period = reports.date_range("all" if days is None else f"{days}d")
    with app.app_context():
        counts: Counter = Counter()
        for visit in plugin_session(app).scalars(sa.select(Visit)):
            if period.start is None or visit.created_at >= period.start:
                counts[(visit.referrer_id, "clicks")] += 1
        for referral in plugin_session(app).scalars(sa.select(Referral)):
            if period.start is None or referral.created_at >= period.start:
                counts[(referral.referrer_id, "signups")] += 1
            converted = referral.status == ReferralStatus.CONVERTED
            when = referral.converted_at
            if converted and when and (period.start is None or when >= period.start):
                counts[(referral.referrer_id, "conversions")] += 1
    ids = {referrer_id for (referrer_id, name), n in counts.items() if n}
    rows = [
        (i, counts[(i, "clicks")], counts[(i, "signups")], counts[(i, "conversions")])
        for i in ids
        if counts[(i, "clicks")] or counts[(i, "signups")]
    ]
    return sorted(rows, key=lambda r: (-r[2], -r[3], -r[1], r[0]))


def shown(app, key: str, per_page: int = 100) -> list[tuple]:
    with app.app_context():
        page = leaderboard.leaderboard_page(reports.date_range(key), 1, per_page)
    return [(r.id, r.clicks, r.signups, r.conversions) for r in page.items]


def program(app, make_user) -> dict[str, int]:
    """Referrers with ties, old and new activity, conversions; returns their ids."""
    ids = {}
    for name in ("ann", "bob", "cat", "dan"):
        ids[name], _ = make_user(f"{name}@example.com", name.title())
    codes = {name: make_code(app, user_id) for name, user_id in ids.items()}
    refer(app, make_user, codes["ann"], "a1@example.com", age=1, converted_age=0.5)
    refer(app, make_user, codes["ann"], "a2@example.com", age=50)
    refer(app, make_user, codes["bob"], "b1@example.com", age=2)
    refer(app, make_user, codes["cat"], "c1@example.com", age=3, converted_age=2)
    add_clicks(app, ids["bob"], 1, 2, 40)
    add_clicks(app, ids["cat"], 1, 100)
    add_clicks(app, ids["dan"], 0.5)
    return ids


def make_code(app, user_id: int) -> str:
    with app.app_context():
        return plugin_session(app).get(ReferralAccount, user_id).code


def rewards_from_rows(app, days: int | None) -> dict[int, list]:
    """Non-rejected rewards created in the last `days` days per user and currency."""
    period = reports.date_range("all" if days is None else f"{days}d")
    totals: Counter = Counter()
    with app.app_context():
        for reward in plugin_session(app).scalars(sa.select(Reward)):
            recent = period.start is None or reward.created_at >= period.start
            if recent and reward.status != RewardStatus.REJECTED:
                totals[(reward.user_id, reward.currency)] += reward.amount_minor
    shown: dict[int, list] = {}
    for (user_id, currency), amount in sorted(totals.items()):
        shown.setdefault(user_id, []).append((currency, amount))
    return shown


def rewards_shown(app, key: str) -> dict[int, list]:
    with app.app_context():
        page = leaderboard.leaderboard_page(reports.date_range(key), 1, 100)
    return {row.id: row.reward_totals for row in page.items if row.reward_totals}


@pytest.mark.parametrize("days", [7, 30, 90, None])
def test_every_range_shows_the_counts_of_the_rows(host, app, make_user, runner, days):
    ids = program(app, make_user)
    for amount, currency, status, age in [
        (1000, "USD", "pending", 1),
        (2500, "USD", "paid", 20),
        (700, "EUR", "approved", 60),
        (900, "USD", "rejected", 2),
    ]:
        add_reward(app, ids["ann"], amount, currency, status, age=age)
    add_reward(app, ids["cat"], 300, "EUR", "pending", age=5)
    refresh(runner)
    key = "all" if days is None else f"{days}d"
    assert shown(app, key) == counted_from_rows(app, days)
    shown_rewards = rewards_shown(app, key)
    assert shown_rewards == rewards_from_rows(app, days)
    assert shown_rewards[ids["ann"]]  # every range has some of Ann's rewards


def test_a_preset_shows_its_last_ranking_and_says_when(
    host, app, make_user, admin, runner
):
    ids = program(app, make_user)
    add_reward(app, ids["ann"], 1000, age=1)
    page = admin.get(host.url("/admin?range=7d")).get_data(as_text=True)
    assert "data-as-of" not in page  # not ranked yet: counted now
    before = counted_from_rows(app, 7)
    assert "ranked 4 referrers" in refresh(runner)  # 7d: ann, bob, cat, dan
    for n in range(3):
        refer(app, make_user, make_code(app, ids["dan"]), f"d{n}@example.com")
    add_reward(app, ids["ann"], 500, age=1)
    assert shown(app, "7d") == before  # as of the ranking
    assert rewards_shown(app, "7d") == {ids["ann"]: [("USD", 1000)]}
    page = admin.get(host.url("/admin?range=7d")).get_data(as_text=True)
    assert re.search(r'<time datetime="[^"]+" data-as-of>', page)
    assert "refresh-leaderboards" in page
    assert 'data-stat="referred-signups">6<' in page  # the funnel is exact now
    assert shown(app, "all")[0][0] == ids["dan"]  # all time is exact now
    assert rewards_shown(app, "all") == {ids["ann"]: [("USD", 1500)]}
    refresh(runner)
    assert shown(app, "7d") == counted_from_rows(app, 7)
    assert shown(app, "7d")[0][0] == ids["dan"]
    assert rewards_shown(app, "7d") == {ids["ann"]: [("USD", 1500)]}


def test_pages_of_a_ranking_follow_its_ranks(make_host):
    host = make_host(REFERRALS_PAGE_SIZE=2)
    app, make_user, runner = host.app, host.users, host.app.test_cli_runner()
    for n in range(5):
        user_id, _ = make_user(f"r{n}@example.com", f"Referrer {n}")
        add_clicks(app, user_id, *([0.5] * (n + 1)))
    refresh(runner)
    with app.app_context():
        period = reports.date_range("30d")
        pages = [leaderboard.leaderboard_page(period, n, 2) for n in (1, 2, 3)]
    assert [[row.rank for row in page.items] for page in pages] == [[1, 2], [3, 4], [5]]
    assert [row.clicks for page in pages for row in page.items] == [5, 4, 3, 2, 1]
    assert {page.total for page in pages} == {5}
    assert all(page.as_of is not None for page in pages)


def test_the_csv_export_of_a_preset_matches_its_ranking(
    host, app, make_user, admin, runner
):
    program(app, make_user)
    refresh(runner)
    rows = _csv(admin.get(host.url("/admin/export/leaderboard.csv?range=30d")))
    assert [(r["referrer_id"], int(r["clicks"]), int(r["signups"])) for r in rows] == [
        (str(i), clicks, signups) for i, clicks, signups, _ in shown(app, "30d")
    ]
    assert [r["rank"] for r in rows] == [str(n) for n in range(1, len(rows) + 1)]


def test_refreshing_keeps_the_last_two_rankings_and_drops_abandoned_ones(
    host, app, make_user
):
    ids = program(app, make_user)
    add_reward(app, ids["ann"], 1000, age=1)
    add_reward(app, ids["ann"], 700, "EUR", age=1)
    now = utcnow()
    with app.app_context():
        for age in (timedelta(hours=7), timedelta(0)):  # dead, and still writing
            plugin_session(app).add(
                RankingSnapshot(
                    range_key="7d", starts_on=now.date(), taken_at=now - age
                )
            )
        plugin_session(app).commit()
        rankings.BATCH_SIZE, batch = 2, rankings.BATCH_SIZE  # several batches
        try:
            runs = [rankings.refresh_all(now + timedelta(minutes=n)) for n in range(3)]
        finally:
            rankings.BATCH_SIZE = batch
        kept = (
            plugin_session(app)
            .execute(
                sa.select(RankingSnapshot.range_key, RankingSnapshot.taken_at)
                .where(RankingSnapshot.referrers.is_not(None))
                .order_by(RankingSnapshot.id)
            )
            .all()
        )
        unfinished = (
            plugin_session(app)
            .scalars(
                sa.select(RankingSnapshot.taken_at).where(
                    RankingSnapshot.referrers.is_(None)
                )
            )
            .all()
        )
        ranks = plugin_session(app).scalar(
            sa.select(sa.func.count(RankedReferrer.rank))
        )
        rewards = plugin_session(app).scalar(
            sa.select(sa.func.count(RankedReward.currency))
        )
    assert [(row.range_key, row.taken_at) for row in kept] == [
        (refreshed.range_key, refreshed.taken_at)
        for run in runs[1:]
        for refreshed in run
    ]
    assert unfinished == [now]  # a run still writing keeps its snapshot
    assert (ranks, rewards) == (2 * 3 * 4, 2 * 3 * 2)  # 4 referrers, Ann's currencies


def test_report_pages_issue_a_fixed_number_of_queries_with_rankings(
    host, app, make_user, admin, runner
):
    _, ann = make_user("ann@example.com", "Ann")
    paths = [
        "/admin?range=7d",
        "/admin?range=90d",
        "/admin?range=all",
        "/admin/export/leaderboard.csv?range=30d",
    ]
    refer(app, make_user, ann, "first@example.com", converted_age=0)
    refresh(runner)
    admin.get(
        host.url("/admin")
    )  # a session's first request also records its device sighting
    paths = [host.url(path) for path in paths]
    small = {path: _count_queries(app, admin, path) for path in paths}
    for n in range(12):
        user_id, code = make_user(f"r{n}@example.com", f"R{n}", code=ann)
        add_clicks(app, user_id, 0, 1, 2)
        refer(app, make_user, code, f"f{n}@example.com", converted_age=0)
    refresh(runner)
    assert {path: _count_queries(app, admin, path) for path in paths} == small
