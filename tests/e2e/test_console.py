"""End-to-end: the admin console in headless Chromium, as an admin runs the program."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in, screenshot, serious_accessibility_violations

pytestmark = pytest.mark.e2e

#: The console's sections as its navigation names them, and where they lead.
SECTIONS = {
    "Overview": r"/admin$",
    "Referrers": r"/admin/referrers$",
    "Rewards": r"/admin/rewards$",
    "Fraud": r"/admin/fraud$",
    "Payouts": r"/admin/payouts$",
    "Settings": r"/admin/settings$",
    "Billing": r"/admin/billing$",
    "Webhooks": r"/admin/webhooks$",
}


def _admin(new_page, width=1280, height=900, **options):
    page = new_page(width, height, **options)
    log_in(page, "admin@example.com")
    return page


def _section(page, label: str):
    return page.get_by_role("navigation", name="Admin sections").get_by_role(
        "link", name=label
    )


def test_every_admin_page_is_reached_from_every_other_by_clicking(new_page):
    page = _admin(new_page)
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Admin"
    ).click()
    page.wait_for_url(re.compile(SECTIONS["Overview"]))
    for start in SECTIONS:
        for target, address in SECTIONS.items():
            _section(page, start).click()
            page.wait_for_url(re.compile(SECTIONS[start]))
            _section(page, target).click()
            page.wait_for_url(re.compile(address))
            expect(_section(page, target)).to_have_attribute("aria-current", "page")
    # A person's page and a reward's page belong to their sections.
    _section(page, "Rewards").click()
    page.locator("[data-reward] a").first.click()
    page.wait_for_url(re.compile(r"/admin/rewards/\d+$"))
    expect(_section(page, "Rewards")).to_have_attribute("aria-current", "page")
    page.get_by_role("link", name=re.compile(".")).filter(
        has=page.locator("xpath=self::*[contains(@href, '/admin/referrers/')]")
    ).first.click()
    page.wait_for_url(re.compile(r"/admin/referrers/\d+"))
    expect(_section(page, "Referrers")).to_have_attribute("aria-current", "page")
    _section(page, "Overview").click()
    page.wait_for_url(re.compile(SECTIONS["Overview"]))


@pytest.mark.parametrize("typed", ["ann@example.com", "old code"])
def test_an_admin_finds_a_referrer_by_email_and_by_an_old_code(new_page, site, typed):
    seed = site["seed"]
    typed = seed.ann_old_code if typed == "old code" else typed
    page = _admin(new_page)
    page.goto("/admin")
    _section(page, "Referrers").click()
    page.get_by_label("Email, name, code (current or old) or id").fill(typed)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/admin/referrers\?q="))
    page.get_by_role("link", name="Ann Rivera", exact=True).click()
    page.wait_for_url(re.compile(rf"/admin/referrers/{seed.ann_id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Ann Rivera")
    expect(page.locator(".lede").first).to_contain_text("ANNRIVERA")


def test_select_all_approves_every_ready_reward_and_the_count_drops(new_page):
    page = _admin(new_page)
    page.goto("/admin/rewards")
    page.get_by_role("link", name="Ready to approve").click()
    page.wait_for_url(re.compile(r"status=ready"))
    ready = int(page.locator("[data-matching]").get_attribute("data-matching"))
    assert ready > 0, "the seed has rewards whose hold is over"
    in_review = page.locator(".filters").get_by_role("link", name="In review")
    badge = _section(page, "Rewards").locator(".count-badge")
    assert int(badge.inner_text().split()[0].replace(",", "")) > 0
    page.get_by_label(re.compile(r"Select all [\d,]+ matching this filter")).check()
    expect(page.locator("[data-selected-count]")).to_have_text(
        f"{ready:,} selected (all matching)"
    )
    flagged = page.get_by_label("I have read why it is flagged: release it anyway")
    if flagged.count():
        flagged.check()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Approve {ready:,} rewards?"
    )
    page.get_by_role("button", name=f"Yes, approve {ready:,} rewards").click()
    expect(page.get_by_role("status").first).to_have_text(
        f"{ready:,} rewards approved."
    )
    expect(page.locator("[data-matching]")).to_have_attribute("data-matching", "0")
    expect(badge).to_have_text("0 waiting")
    in_review.click()
    expect(page.locator("[data-matching]")).to_have_attribute("data-matching", "0")


def test_select_all_on_the_page_ticks_every_row(new_page):
    page = _admin(new_page)
    page.goto("/admin/rewards")
    page.get_by_label(re.compile(r"Select all [\d,]+ on this page")).check()
    boxes = page.locator('input[name="reward_ids"]')
    assert boxes.count() > 1
    assert all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    expect(page.locator("[data-selected-count]")).to_have_text(
        f"{boxes.count()} selected"
    )


def test_console_components_are_styled_in_the_sites_layout(new_page):
    page = _admin(new_page)
    page.goto("/admin/rewards")
    filters = page.locator(".filters ul")
    assert filters.evaluate("el => getComputedStyle(el).display") == "flex"
    assert filters.evaluate("el => getComputedStyle(el).listStyleType") == "none"
    page.goto("/admin/fraud")
    danger = page.get_by_role("button", name="Confirm: abuse")
    colour = danger.evaluate("el => getComputedStyle(el).backgroundColor")
    assert colour == "rgb(185, 28, 28)"  # the site's --bad red, not its accent


PAGES = {
    "admin-report": "/admin?range=all",
    "admin-referrers": "/admin/referrers?q=a",
    "admin-referrer": "/admin/referrers/{ann_id}?range=all",
    "admin-rewards": "/admin/rewards",
    "admin-reward": "/admin/rewards/1",
    "admin-fraud": "/admin/fraud",
    "admin-fraud-confirmed": "/admin/fraud?status=confirmed",
    "admin-payouts": "/admin/payouts",
    "admin-referrers-all": "/admin/referrers",
    "admin-settings": "/admin/settings",
    "admin-billing": "/admin/billing",
    "admin-webhooks": "/admin/webhooks",
    "admin-webhook": "/admin/webhooks/1",
    "my-referrals": "/referrals",
    "my-email-preferences": "/referrals/emails",
    "signup": "/signup",
    "login": "/login",
    "home": "/",
}
#: Who opens each page (None: an anonymous visitor).
VISITORS = {
    "my-referrals": "ann@example.com",
    "my-email-preferences": "ann@example.com",
    "signup": None,
    "login": None,
    "home": None,
}


def _open(new_page, site, name: str, width: int, height: int):
    # axe-core goes in as a script tag, which the site's CSP rightly refuses: only
    # these accessibility runs bypass it.
    page = new_page(width, height, bypass_csp=True)
    email = VISITORS.get(name, "admin@example.com")
    if email:
        log_in(page, email)
    page.goto(PAGES[name].format(ann_id=site["seed"].ann_id))
    return page


@pytest.mark.parametrize("name", list(PAGES))
def test_console_pages_have_no_serious_accessibility_violations(new_page, site, name):
    page = _open(new_page, site, name, 1280, 900)
    screenshot(page, f"desktop-console-{name}")
    assert serious_accessibility_violations(page) == []


@pytest.mark.parametrize("name", list(PAGES))
def test_console_pages_fit_a_375px_screen(new_page, site, name):
    page = _open(new_page, site, name, 375, 812)
    screenshot(page, f"mobile-console-{name}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert serious_accessibility_violations(page) == []


def test_the_reward_queue_keeps_amount_and_status_in_sight_on_a_phone(new_page, site):
    page = _open(new_page, site, "admin-rewards", 375, 812)
    row = page.locator("[data-reward]").first
    for cell in ("amount", "status"):
        box = row.locator(f'[data-col="{cell}"]').bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375, cell
    checkbox = row.locator('input[name="reward_ids"]').bounding_box()
    assert checkbox["width"] >= 24 and checkbox["height"] >= 24


def test_the_daily_chart_needs_no_sideways_scroll_on_a_phone(new_page, site):
    page = _open(new_page, site, "admin-report", 375, 812)
    chart = page.locator(".chart-wrap")
    assert chart.evaluate("el => el.scrollWidth <= el.clientWidth")
