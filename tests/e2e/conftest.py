"""Browser-test fixtures: the site under gunicorn on a fresh database, and Chromium.

The server runs the real WSGI app (CSRF on, argon2 made cheap through the
environment) on a free loopback port; the browser is Debian's Chromium driven by
Playwright, since Playwright cannot download its own browsers here.
"""

import os
from pathlib import Path

import pytest

from tests.e2e.seed import PASSWORD, seed
from tests.server import gunicorn, migrate

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
#: Without these, Chromium on a machine with no network stalls on start-up calls.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """A migrated, seeded SQLite database and gunicorn serving it; yields facts."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    database = tmp_path_factory.mktemp("e2e") / "e2e.db"
    url = f"sqlite:///{database}"
    migrate(url)
    facts = seed(url)
    with gunicorn(url, workers=2, log=database.with_suffix(".log")) as base_url:
        yield {"base_url": base_url, "seed": facts, "database": database}


@pytest.fixture(scope="session")
def browser(site):
    """One headless Chromium for the whole run."""
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def base_url(site) -> str:
    return site["base_url"]


DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)


@pytest.fixture
def new_page(browser, base_url):
    """Open pages in fresh contexts (own cookies); closed after the test."""
    contexts = []

    def open_page(width: int = 1280, height: int = 900, **options):
        # The site does not count "HeadlessChrome" clicks (bots); these pages stand
        # for people, so they send the user agent of an ordinary desktop Chrome.
        options.setdefault("user_agent", DESKTOP_CHROME)
        context = browser.new_context(
            base_url=base_url,
            viewport={"width": width, "height": height},
            permissions=["clipboard-read", "clipboard-write"],
            accept_downloads=True,
            **options,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def log_in(page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the login form and wait for the landing page."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/referrals")


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def serious_accessibility_violations(page) -> list[dict]:
    """Run axe-core on the page; return its serious and critical violations."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (make test does it)")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
