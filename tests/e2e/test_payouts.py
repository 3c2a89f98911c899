"""End-to-end: from "approved" to "paid" in a few clicks, in headless Chromium.

A site of its own (a fresh database with two approved cash rewards for a person
with PayPal details), so the batch it pays changes nobody else's figures.
"""

import csv
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from referral_site import create_app
from referral_site.extensions import db
from referral_site.referrals.attribution import services
from referral_site.referrals.payouts.models import PayoutAccount, PayoutMethod
from referral_site.referrals.rewards.adjustments import adjust
from referral_site.referrals.storage.models import RewardKind
from referral_site.referrals.storage.transactions import write_transaction
from tests.e2e.conftest import serious_accessibility_violations
from tests.e2e.seed import PASSWORD
from tests.server import gunicorn, migrate

pytestmark = pytest.mark.e2e


def _seed(url: str) -> None:
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "PASSWORD_HASH_TIME_COST": 1,
            "PASSWORD_HASH_MEMORY_KIB": 8,
        }
    )
    with app.app_context():
        admin = services.sign_up(
            name="Morgan Admin", email="admin@example.com", password=PASSWORD,
            capture=None,
        )  # fmt: skip
        with write_transaction():
            admin.is_admin = True
        ann = services.sign_up(
            name="Ann Rivera", email="ann@example.com", password=PASSWORD, capture=None
        )
        for amount in (2500, 1250):
            adjust(ann.id, amount, "USD", actor_id=admin.id, reason="bonus",
                   kind=RewardKind.CASH)  # fmt: skip
        with write_transaction() as session:
            session.add(
                PayoutAccount(
                    user_id=ann.id,
                    method=PayoutMethod.PAYPAL,
                    paypal_email="ann@paypal.example",
                )
            )
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture(scope="module")
def payout_site(site, tmp_path_factory):
    database = tmp_path_factory.mktemp("e2e-payouts") / "payouts.db"
    url = f"sqlite:///{database}"
    migrate(url)
    _seed(url)
    with gunicorn(url, workers=1, log=database.with_suffix(".log")) as base_url:
        yield base_url


def _log_in(page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/referrals")


def test_an_admin_pays_what_is_due_in_a_few_clicks(new_page, payout_site):
    page = new_page(bypass_csp=True)
    _log_in(page, payout_site, "admin@example.com")
    page.goto(payout_site + "/admin")
    page.get_by_role("navigation", name="Admin sections").get_by_role(
        "link", name="Payouts"
    ).click()
    expect(page.locator("[data-table=payouts-due]")).to_contain_text("$37.50")
    assert serious_accessibility_violations(page) == []
    page.get_by_role("button", name="Create a batch of everything payable").click()
    page.wait_for_url(re.compile(r"/admin/payouts/batches/\d+$"))
    with page.expect_download() as info:
        page.get_by_role("link", name="PayPal Payouts file, USD").click()
    rows = list(csv.reader(Path(info.value.path()).read_text().splitlines()))
    assert [row[:3] for row in rows] == [["ann@paypal.example", "37.50", "USD"]]
    assert serious_accessibility_violations(page) == []
    page.get_by_label("Payment reference").fill("PAYPAL-5XK2")
    page.get_by_label("The provider paid this batch").check()
    page.get_by_role("button", name="Mark paid").click()
    expect(page.locator("[data-batch-status]")).to_have_attribute(
        "data-batch-status", "paid"
    )
    person = new_page()
    _log_in(person, payout_site, "ann@example.com")
    payouts = person.locator("[data-table=payouts-made]")
    expect(payouts).to_contain_text("PAYPAL-5XK2")
    expect(payouts).to_contain_text("$37.50")
