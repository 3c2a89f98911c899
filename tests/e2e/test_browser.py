"""End-to-end: the main pages in headless Chromium against gunicorn."""

import csv
import io
import re
from urllib.parse import unquote

import pytest
import segno
from playwright.sync_api import expect

from tests.e2e.conftest import log_in, screenshot, serious_accessibility_violations
from tests.e2e.seed import PASSWORD
from tests.qr_matrix import svg_path_matrix, with_border

pytestmark = pytest.mark.e2e


def test_visitor_follows_link_signs_up_and_appears_on_referrer_page(new_page, site):
    code = site["seed"].ann_code
    visitor = new_page()
    visitor.goto(f"/r/{code}")
    visitor.wait_for_url("**/signup")
    assert visitor.get_by_label("Referral code").input_value() == code
    visitor.get_by_label("Name").fill("Walter Newcomer")
    visitor.get_by_label("Email").fill("walter.newcomer@example.net")
    visitor.get_by_label("Password").fill(PASSWORD)
    visitor.get_by_role("button", name="Sign up").click()
    # The same answer whether the address is new or taken: check your email.
    visitor.wait_for_url("**/signup/sent")
    expect(visitor.get_by_role("heading", name="Check your email")).to_be_visible()

    referrer = new_page()
    log_in(referrer, "ann@example.com")
    row = referrer.locator("tr", has_text="Walter Newcomer")
    expect(row).to_be_visible()
    assert "w***@e***.net" in row.inner_text()


def test_copy_button_puts_the_exact_link_on_the_clipboard(new_page, site):
    page = new_page()
    log_in(page, "ann@example.com")
    expected = f"{site['base_url']}/r/{site['seed'].ann_code}"
    assert (
        page.get_by_role("textbox", name="Your referral link").input_value() == expected
    )
    button = page.get_by_role("button", name="Copy link")
    button.focus()
    page.keyboard.press("Enter")  # keyboard users can copy too
    expect(page.get_by_role("button", name="Copied!")).to_be_visible()
    expect(page.locator("[data-copy-status]")).to_have_text("Link copied to clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == expected


def test_share_links_carry_the_referral_link(new_page, site):
    page = new_page()
    log_in(page, "ann@example.com")
    link = page.get_by_role("textbox", name="Your referral link").input_value()
    for name in ("Email", "X / Twitter", "WhatsApp", "LinkedIn", "Facebook"):
        href = page.get_by_role("link", name=name).get_attribute("href")
        assert link in unquote(href), name


def test_qr_code_encodes_the_referral_link(new_page, site):
    page = new_page()
    log_in(page, "ann@example.com")
    link = page.get_by_role("textbox", name="Your referral link").input_value()
    download = page.get_by_role("link", name="Download QR code")
    with page.expect_download() as info:
        download.click()
    svg = open(info.value.path(), encoding="utf-8").read()
    expected = segno.make(link, error="m", boost_error=False)
    assert svg_path_matrix(svg) == with_border(expected.matrix, 4)
    inline = page.locator("svg.qr").evaluate("node => node.outerHTML")
    assert svg_path_matrix(inline) == svg_path_matrix(svg)


def _table(page, selector: str) -> list[list[str]]:
    return page.locator(f"{selector} tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
    )


def _stat(page, key: str) -> str:
    return page.locator(f'[data-stat="{key}"]').inner_text().strip()


def test_admin_filters_report_and_csv_matches_the_page(new_page):
    page = new_page()
    log_in(page, "admin@example.com")
    page.goto("/admin")
    all_time_signups = int(_stat(page, "referred-signups"))
    page.get_by_role("link", name="Last 7 days").click()
    page.wait_for_url(re.compile(r"range=7d"))
    assert page.get_by_role("link", name="Last 7 days").get_attribute("aria-current")
    week_signups = int(_stat(page, "referred-signups"))
    assert week_signups <= all_time_signups
    page.get_by_role("link", name="All time").click()
    page.wait_for_url(re.compile(r"range=all"))
    rows = _table(page, '[data-table="leaderboard"]')
    assert rows, "the seeded leaderboard is not empty"

    with page.expect_download() as info:
        page.get_by_role("link", name="Leaderboard CSV").click()
    assert info.value.suggested_filename == "leaderboard-all.csv"
    exported = list(csv.DictReader(io.StringIO(open(info.value.path()).read())))
    assert len(exported) == len(rows)
    for shown, line in zip(rows, exported, strict=True):
        assert shown[0] == line["rank"]
        assert shown[1].startswith(line["name"])
        assert shown[2:5] == [line["clicks"], line["signups"], line["conversions"]]
    assert sum(int(line["signups"]) for line in exported) == int(
        _stat(page, "referred-signups")
    )

    with page.expect_download() as info:
        page.get_by_role("link", name="Referrals CSV").click()
    referrals = list(csv.DictReader(io.StringIO(open(info.value.path()).read())))
    assert len(referrals) == int(_stat(page, "referred-signups"))


def test_admin_opens_a_referrer_page_from_the_leaderboard(new_page):
    page = new_page()
    log_in(page, "admin@example.com")
    page.goto("/admin?range=all")
    first = page.locator('[data-table="leaderboard"] tbody tr').first
    signups = first.locator('[data-col="signups"]').inner_text()
    first.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/admin/referrers/\d+"))
    assert _stat(page, "referred-signups") == signups
    assert page.locator('[data-table="referrals"] tbody tr').count() == int(signups)


def test_a_payout_change_awaiting_its_link_shows_beside_the_details_in_force(
    new_page,
):
    # Seeded: Ann paid to ann.rivera@..., a change to ann.r@... not confirmed yet.
    # The page checks below (accessibility, a 375px screen) see this state too.
    page = new_page()
    log_in(page, "ann@example.com")
    expect(page.locator("[data-payout-details]")).to_contain_text(
        "ann.rivera@paypal.example"
    )
    pending = page.locator("[data-payout-pending]")
    expect(pending).to_contain_text("ann.r@paypal.example")
    expect(pending).to_contain_text("a***@example.com")
    expect(pending.get_by_role("button", name="Cancel this change")).to_be_visible()


PAGES = {
    "my-referrals": ("ann@example.com", "/referrals"),
    "admin-report": ("admin@example.com", "/admin?range=all"),
    "admin-referrer": ("admin@example.com", None),
    "admin-billing": ("admin@example.com", "/admin/billing"),
    "signup": (None, "/signup"),
    "login": (None, "/login"),
    "forgot-password": (None, "/password/forgot"),
    "signup-sent": (None, "/signup/sent"),
    "home": (None, "/"),
    "not-found": (None, "/no-such-page"),
}


def _open(new_page, site, name: str, width: int, height: int):
    email, path = PAGES[name]
    # axe-core goes in as a script tag, which the site's CSP rightly refuses: only
    # these accessibility runs bypass it (the other tests run under the real policy).
    page = new_page(width, height, bypass_csp=True)
    if email:
        log_in(page, email)
    page.goto(path or f"/admin/referrers/{site['seed'].ann_id}?range=all")
    return page


@pytest.mark.parametrize("name", list(PAGES))
def test_pages_have_no_serious_accessibility_violations(new_page, site, name):
    page = _open(new_page, site, name, 1280, 900)
    screenshot(page, f"desktop-{name}")
    assert serious_accessibility_violations(page) == []


@pytest.mark.parametrize(
    "name", ["my-referrals", "admin-report", "admin-referrer", "admin-billing"]
)
def test_pages_fit_a_375px_screen_without_horizontal_scroll(new_page, site, name):
    page = _open(new_page, site, name, 375, 812)
    screenshot(page, f"mobile-{name}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert serious_accessibility_violations(page) == []


def test_copy_falls_back_to_selecting_the_link_without_the_clipboard_api(
    new_page, site
):
    page = new_page()
    # A browser without the Clipboard API, where execCommand("copy") also fails.
    page.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'clipboard',"
        " {get: () => undefined});"
        "document.execCommand = () => false;"
    )
    log_in(page, "ann@example.com")
    page.get_by_role("button", name="Copy link").click()
    expect(page.locator("[data-copy-status]")).to_contain_text("Ctrl+C")
    box = page.get_by_role("textbox", name="Your referral link")
    selected = box.evaluate("el => el.value.slice(el.selectionStart, el.selectionEnd)")
    assert selected == f"{site['base_url']}/r/{site['seed'].ann_code}"
    expect(box).to_be_focused()


def test_native_share_button_appears_only_where_the_browser_can_share(new_page, site):
    plain = new_page()
    log_in(plain, "ann@example.com")
    expect(plain.locator("[data-native-share]")).to_be_hidden()

    page = new_page()
    # A browser with a share sheet: record what the page asks it to share.
    page.add_init_script(
        "window.__shared = [];"
        "Navigator.prototype.share = function (data) {"
        " window.__shared.push(data); return Promise.resolve(); };"
    )
    log_in(page, "ann@example.com")
    page.get_by_role("button", name="More…").click()
    shared = page.evaluate("window.__shared")
    assert [item["url"] for item in shared] == [
        f"{site['base_url']}/r/{site['seed'].ann_code}"
    ]


@pytest.mark.parametrize("name", ["my-referrals", "admin-report"])
def test_pages_run_under_the_content_security_policy_without_violations(
    new_page, site, name
):
    email, path = PAGES[name]
    page = new_page()
    violations = []
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text
            and violations.append(message.text)
        ),
    )
    log_in(page, email)
    page.goto(path)
    page.get_by_role("button", name="Copy link").count()  # scripts have run
    policy = page.evaluate(
        "async () => (await fetch(location.href)).headers"
        ".get('content-security-policy')"
    )
    assert "script-src 'self'" in policy
    assert violations == []
