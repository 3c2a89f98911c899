"""End-to-end: program settings in the browser, and the offer its people see."""

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from referral_site import create_app
from referral_site.extensions import db
from referral_site.referrals.attribution import services
from referral_site.referrals.rewards import conversions
from tests.e2e.conftest import log_in, screenshot, serious_accessibility_violations
from tests.e2e.seed import PASSWORD

pytestmark = pytest.mark.e2e


def _beside_the_server(site, action):
    """Run an action on the site's database from this process: as a billing system
    or another worker would, with its own program cache."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{site['database']}",
            "PASSWORD_HASH_TIME_COST": 1,
            "PASSWORD_HASH_MEMORY_KIB": 8,
        }
    )
    with app.app_context():
        try:
            return action()
        finally:
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


def _referred_purchase(site, email: str) -> int:
    """A new friend of Ann's signs up with her code and buys; Ann's reward's id."""

    def act():
        friend = services.sign_up(
            name=email.split("@")[0].title(),
            email=email,
            password=PASSWORD,
            capture=services.Capture(
                code=site["seed"].ann_code, source=services.CaptureSource.TYPED
            ),
        )
        result = conversions.record_conversion(
            friend.id,
            kind="purchase",
            amount=4_000,
            external_id=f"e2e-{email}",
            occurred_at=datetime.now(UTC),
        )
        (ann,) = [r.id for r in result.rewards if r.user_id == site["seed"].ann_id]
        return ann

    return _beside_the_server(site, act)


def _reward_page(page, reward_id: int) -> tuple[str, str]:
    page.goto(f"/admin/rewards/{reward_id}")
    heading = page.locator("#reward-heading").inner_text()
    program = page.locator("[data-program-version]").inner_text()
    return heading, program


def test_a_rule_edited_in_settings_rewards_the_next_conversion(new_page, site):
    before = _referred_purchase(site, "before.settings@example.net")
    page = new_page()
    log_in(page, "admin@example.com")
    page.goto("/admin")
    page.get_by_role("navigation", name="Admin sections").get_by_role(
        "link", name="Settings"
    ).click()
    page.wait_for_url("**/admin/settings")
    rule = page.locator('fieldset[data-rule="first-conversion"]')
    rule.get_by_label("Reward", exact=True).fill("12.00")
    page.get_by_role("button", name="Save a new version").click()
    expect(page.get_by_role("status").first).to_contain_text("is now in force")
    version = int(page.locator("[data-in-force]").get_attribute("data-in-force"))
    assert version >= 1
    expect(
        page.locator('[data-table="program-history"] tbody tr').first
    ).to_contain_text("amount $10.00 → $12.00")
    after = _referred_purchase(site, "after.settings@example.net")

    heading, program = _reward_page(page, before)
    assert heading.startswith("$10.00") and program == "the configuration's program"
    heading, program = _reward_page(page, after)
    assert heading.startswith("$12.00") and program == f"version {version}"
    page.get_by_role("link", name=f"version {version}").click()
    page.wait_for_url("**/admin/settings#history-heading")


def test_a_referred_visitor_sees_the_inviter_and_the_offer(new_page, site):
    visitor = new_page()
    visitor.goto(f"/r/{site['seed'].ann_code}")
    visitor.wait_for_url("**/signup")
    invitation = visitor.locator("[data-invitation]")
    expect(invitation).to_contain_text("Ann Rivera invited you")
    expect(invitation).to_contain_text(re.compile(r"Get \$[\d.,]+ off your first"))
    assert "ann@example.com" not in visitor.content()


def test_the_referrer_reads_the_offer_first_on_a_phone(new_page, site):
    page = new_page(375, 812)
    log_in(page, "ann@example.com")
    offer = page.locator('[data-offer="referrer"]')
    expect(offer).to_contain_text("Give your friends")
    link = page.locator("#referral-link")
    rewards = page.locator("#rewards-heading").first
    # The offer, the link and the figures come before the rewards and the people.
    assert offer.bounding_box()["y"] < link.bounding_box()["y"]
    assert link.bounding_box()["y"] < rewards.bounding_box()["y"]


PAGES = {
    "admin-settings": ("admin@example.com", "/admin/settings"),
    "my-referrals-offer": ("ann@example.com", "/referrals"),
    "signup-invited": (None, "invited"),
}


def _open(new_page, site, name, width, height):
    email, path = PAGES[name]
    page = new_page(width, height, bypass_csp=True)  # axe-core is a script tag
    if email:
        log_in(page, email)
    if path == "invited":
        page.goto(f"/r/{site['seed'].ann_code}")
        page.wait_for_url("**/signup")
    else:
        page.goto(path)
    return page


@pytest.mark.parametrize("width", [1280, 375])
@pytest.mark.parametrize("name", list(PAGES))
def test_program_pages_are_accessible_and_fit_a_phone(new_page, site, name, width):
    page = _open(new_page, site, name, width, 900)
    screenshot(page, f"{name}-{width}")
    assert serious_accessibility_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= width
