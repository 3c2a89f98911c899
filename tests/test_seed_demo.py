"""`flask referrals seed-demo`: bulk demo data that the pages report consistently."""

import csv
import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from referral_site.models import User
from referral_site.referrals.attribution import services
from referral_site.referrals.demo_data import DEMO_PASSWORD, demo_code
from referral_site.referrals.fraud.models import ReferralCode, VisitRollup
from referral_site.referrals.storage.models import (
    Conversion,
    Referral,
    ReferralAccount,
    ReferralStatus,
    Reward,
    RewardStatus,
    Visit,
)
from tests.conftest import login, scalar

SMALL = ["--users", "60", "--referrals", "40", "--clicks", "500"]


def seed(runner, *args):
    return runner.invoke(args=["referrals", "seed-demo", *args])


def count(app, model) -> int:
    return scalar(app, sa.select(sa.func.count()).select_from(model))


def test_seed_demo_fills_every_table_with_the_asked_volume(app, runner):
    result = seed(runner, *SMALL, "--conversions", "30", "--batch", "100")
    assert result.exit_code == 0, result.output
    assert "Seeded 60 users, 40 referrals, 30 conversions and 500 clicks" in (
        result.output
    )
    assert (count(app, User), count(app, Referral), count(app, Visit)) == (60, 40, 500)
    assert count(app, ReferralCode) == 60
    assert count(app, Conversion) == 30
    converted = sa.select(sa.func.count(Referral.id)).where(
        Referral.status == ReferralStatus.CONVERTED
    )
    assert scalar(app, converted) == 30
    # Two rewards per conversion, in every status (the random seed is fixed).
    assert count(app, Reward) == 60
    assert set(scalar_rows(app, sa.select(Reward.status).distinct())) == set(
        RewardStatus
    )
    assert scalar(app, sa.select(sa.func.sum(VisitRollup.clicks))) == 500


def scalar_rows(app, statement):
    with app.app_context():
        return services.db.session.scalars(statement).all()


def test_seeded_referrers_are_skewed(app, runner):
    assert seed(runner, *SMALL, "--top-referrals", "20").exit_code == 0
    per_referrer = scalar_rows(
        app,
        sa.select(sa.func.count(Referral.id))
        .group_by(Referral.referrer_id)
        .order_by(sa.func.count(Referral.id).desc()),
    )
    assert per_referrer[0] == 20 > per_referrer[1]


def test_seeded_users_sign_in_with_the_demo_password_and_links_work(app, runner):
    assert seed(runner, *SMALL).exit_code == 0
    client = app.test_client()
    assert login(client, "admin@example.com", DEMO_PASSWORD).status_code == 302
    page = client.get("/admin?range=all").get_data(as_text=True)
    # The report reads the daily counts: they match the seeded rows.
    assert 'data-stat="clicks">500<' in page
    assert 'data-stat="referred-signups">40<' in page
    assert 'data-stat="conversions">8<' in page  # a fifth by default
    assert app.test_client().get(f"/r/{demo_code(2)}").status_code == 302
    assert count(app, Visit) == 501


def test_seed_demo_refuses_a_database_with_users_unless_adding(app, runner):
    assert seed(runner, *SMALL).exit_code == 0
    refused = seed(runner, *SMALL)
    assert refused.exit_code != 0
    assert "pass --add" in refused.output
    assert count(app, User) == 60
    added = seed(runner, *SMALL, "--add", "--seed", "2")
    assert added.exit_code == 0, added.output
    assert (count(app, User), count(app, Referral)) == (120, 80)
    assert (
        scalar(app, sa.select(sa.func.count(sa.distinct(ReferralAccount.code)))) == 120
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--users", "10", "--referrals", "9"], "--users must exceed --referrals"),
        (["--referrals", "5", "--conversions", "6"], "--conversions cannot exceed"),
        (["--referrals", "5", "--top-referrals", "6"], "--top-referrals cannot"),
    ],
)
def test_impossible_plans_are_refused(app, runner, args, message):
    result = seed(runner, *args)
    assert result.exit_code == 2
    assert message in result.output
    assert count(app, User) == 0


def test_seeding_lets_sqlite_checkpoint_its_log(app, runner):
    """No read transaction stays open while seeding: the WAL stays small."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("sqlite"):
        pytest.skip("SQLite's write-ahead log")
    args = ["--users", "600", "--referrals", "500", "--clicks", "60000"]
    assert seed(runner, *args, "--batch", "1000").exit_code == 0
    wal = Path(url.removeprefix("sqlite:///") + "-wal")
    # SQLite checkpoints every 1000 pages (4 MiB) when no reader holds it back;
    # held back, the log keeps every page this seed writes (over 200 MiB).
    assert not wal.exists() or wal.stat().st_size < 16 * 2**20


def test_seeding_postgresql_gathers_the_planners_statistics(app, runner):
    """Without them the report's queries may scan whole tables (autovacuum, which
    would gather them some time later, may be off)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("PostgreSQL's planner statistics")
    assert (
        seed(runner, "--users", "60", "--referrals", "40", "--clicks", "321").exit_code
        == 0
    )
    estimated = scalar(
        app, sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('visits')")
    )
    assert estimated == 321


def test_the_demo_has_payouts_for_an_admin_to_make(app, runner):
    result = seed(runner, *SMALL, "--conversions", "30", "--batch", "100")
    assert result.exit_code == 0, result.output
    admin = app.test_client()
    login(admin, "admin@example.com", DEMO_PASSWORD)
    assert 'data-payable="yes"' in admin.get("/admin/payouts").get_data(as_text=True)
    created = admin.post("/admin/payouts/batches", data={"everything": "1"})
    assert re.search(r"/admin/payouts/batches/\d+$", created.headers["Location"])
    batch = admin.get(created.headers["Location"] + "/batch.csv").get_data(as_text=True)
    header, *lines = csv.reader(io.StringIO(batch))
    assert header == ["recipient", "amount", "currency", "reference", "reward_ids"]
    assert lines
    for recipient, amount, currency, reference, reward_ids in lines:
        assert recipient.startswith("paypal") and currency == "USD"
        assert re.fullmatch(r"\d+\.\d\d", amount) and float(amount) > 0
        assert re.fullmatch(r"RB\d+-L\d+", reference) and reward_ids
