"""The console's pages: navigation, styles, landmarks, and what users read.

The tests run on both hosts (tests/hosts.py), the site and the bookshop.
"""

import re
from collections import Counter
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from referral_site.referrals.fraud.models import ReferralSignalRecord
from referral_site.referrals.storage.models import Referral, ReviewStatus
from tests import host_fixtures
from tests.conftest import scalar
from tests.hosts import site_host
from tests.test_reports import add_reward

# Each test here runs on both hosts.
app, make_user = host_fixtures.app, host_fixtures.make_user
client, admin = host_fixtures.client, host_fixtures.admin


#: Every section of the console, as the navigation names it, and its address.
SECTIONS = {
    "Overview": "/admin",
    "Referrers": "/admin/referrers",
    "Rewards": "/admin/rewards",
    "Fraud": "/admin/fraud",
}


@pytest.fixture
def console(host, app, make_user, admin):
    """An admin, a referrer with a reward ready to approve, and a flagged referral."""
    ann_id, code = make_user("ann@example.com", "Ann")
    make_user("bob@example.com", "Bob", code=code)
    add_reward(app, ann_id, 1000, status="review")
    add_reward(app, ann_id, 2000, status="pending", age=30)  # hold over: ready
    with app.app_context():
        from referral_site.referrals.fraud import review as fraud

        fraud.flag_referral(scalar(app, sa.select(Referral.id)), ["same_ip"])
    return admin, ann_id


def _admin_pages(app, ann_id) -> list[str]:
    reward_id = 1
    return [
        *SECTIONS.values(),
        f"/admin/referrers/{ann_id}",
        f"/admin/rewards/{reward_id}",
        "/admin/fraud?status=cleared",
    ]


def _nav(page: str) -> str:
    match = re.search(r'<nav class="admin-nav".*?</nav>', page, re.S)
    assert match, "no admin navigation"
    return match.group(0)


def test_every_admin_page_links_to_every_section_with_its_own_marked(
    host, app, console
):
    admin, ann_id = console
    for path in _admin_pages(app, ann_id):
        nav = _nav(admin.get(host.url(path)).get_data(as_text=True))
        for label, href in SECTIONS.items():
            assert f'href="{host.url(href)}"' in nav, (path, label)
        current = re.findall(r'<a href="([^"]+)" aria-current="page">', nav)
        expected = next(
            href
            for href in sorted(SECTIONS.values(), key=len, reverse=True)
            if path.split("?")[0].startswith(href)
        )
        assert current == [host.url(expected)], path


def test_the_navigation_counts_what_waits_for_a_decision(host, app, console):
    admin, _ = console
    nav = _nav(admin.get(host.url("/admin")).get_data(as_text=True))
    # In review: what only an admin can move (process-rewards approves the rest).
    assert re.search(r"Rewards <span class=\"count-badge\">1<", nav)
    assert re.search(r"Fraud <span class=\"count-badge\">1<", nav)


def test_the_sites_admin_link_is_current_on_every_console_page(make_app):
    """The site's own layout (its navigation's Admin link) around the console."""
    site = site_host(make_app())
    admin = site.admin("boss")
    ann_id, _ = site.make_user("ann")
    for path in _admin_pages(site.app, ann_id):
        page = admin.get(path).get_data(as_text=True)
        assert re.search(r'href="/admin" aria-current="page">Admin<', page), path


def test_the_sites_layout_loads_the_plugins_stylesheet(host, app, console):
    admin, _ = console
    for path in ("/admin/rewards", "/admin/fraud", "/referrals"):
        page = admin.get(host.url(path)).get_data(as_text=True)
        assert host.url("/_referrals/static/referrals.css") in page, path
        assert page.count(host.url("/_referrals/static/referrals.js")) == 1, path
    css = app.test_client().get(host.url("/_referrals/static/referrals.css"))
    styles = css.get_data(as_text=True)
    for selector in (".filters", ".tabs", ".review-form", ".button-danger"):
        # Not only inside the standalone skeleton (.referrals): in any layout.
        assert re.search(rf"(^|, ){re.escape(selector)}[ ,{{]", styles, re.M), selector


class _Landmarks(HTMLParser):
    """Landmarks (nav, regions, labelled sections) with their names, and ids."""

    def __init__(self):
        super().__init__()
        self.ids, self.labels, self.landmarks = Counter(), {}, []
        self._heading = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids[attrs["id"]] += 1
            self._heading = attrs["id"]
        if (
            tag == "nav"
            or attrs.get("role") == "region"
            or (tag == "section" and "aria-labelledby" in attrs)
        ):
            role = "navigation" if tag == "nav" else "region"
            self.landmarks.append(
                (role, attrs.get("aria-label") or attrs.get("aria-labelledby"))
            )

    def handle_data(self, data):
        if self._heading:
            self.labels.setdefault(self._heading, "")
            self.labels[self._heading] += data

    def handle_endtag(self, tag):
        self._heading = None

    def names(self) -> Counter:
        return Counter(
            (role, (self.labels.get(name) or name or "").strip())
            for role, name in self.landmarks
        )


@pytest.mark.parametrize("who", ["admin", "ann"])
def test_pages_have_unique_ids_and_landmark_names(host, app, console, who):
    admin, ann_id = console
    client = admin
    paths = _admin_pages(app, ann_id)
    if who == "ann":
        client = app.test_client()
        host.sign_in(client, "ann@example.com")
        paths = ["/referrals"]
    for path in paths:
        parser = _Landmarks()
        parser.feed(client.get(host.url(path)).get_data(as_text=True))
        assert [i for i, n in parser.ids.items() if n > 1] == [], path
        assert [n for n, c in parser.names().items() if c > 1] == [], path


def test_a_refused_code_shows_at_its_field_with_what_was_typed(host, app, make_user):
    make_user()
    client = app.test_client()
    host.sign_in(client, "ann@example.com")
    response = client.post(host.url("/referrals/code"), data={"code": "ad-min!"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'action="{host.url("/referrals/code")}#choose-code"' in page  # the form
    field = re.search(r'<input[^>]*id="code"[^>]*>', page).group(0)
    assert 'value="ad-min!"' in field and 'aria-invalid="true"' in field
    assert re.search(r'id="code-errors".*letters A-Z and digits only', page, re.S)


def test_users_read_what_in_review_and_a_hold_over_mean(host, app, make_user):
    ann_id, _ = make_user()
    add_reward(app, ann_id, 1000, status="review", age=20)
    add_reward(app, ann_id, 2000, status="pending", age=20)  # hold ended
    client = app.test_client()
    host.sign_in(client, "ann@example.com")
    page = client.get(host.url("/referrals")).get_data(as_text=True)
    assert ">in review<" in page and "our team checks it" in page
    assert "approval comes next" in page
    assert not re.search(r"until \d{4}-\d\d-\d\d", page)  # no date in the past


def test_seed_demo_flags_referrals_with_their_reasons(make_app):
    """The site's demo data (seed-demo makes the site's users)."""
    app = make_app()
    result = app.test_cli_runner().invoke(
        args=["referrals", "seed-demo", "--users", "400", "--referrals", "350"]
    )
    assert result.exit_code == 0, result.output
    flagged = scalar(
        app,
        sa.select(sa.func.count(Referral.id)).where(
            Referral.review_status == ReviewStatus.FLAGGED
        ),
    )
    assert flagged > 0
    without_reason = sa.select(sa.func.count(Referral.id)).where(
        Referral.review_status == ReviewStatus.FLAGGED,
        ~sa.exists().where(ReferralSignalRecord.referral_id == Referral.id),
    )
    assert scalar(app, without_reason) == 0


def test_counts_and_money_are_formatted_alike_on_every_page(host, app, console):
    admin, ann_id = console
    add_reward(app, ann_id, 123_456_700, status="approved")
    for path in ("/admin?range=all", f"/admin/referrers/{ann_id}?range=all"):
        page = admin.get(host.url(path)).get_data(as_text=True)
        assert "$1,234,567.00" in page, path
    queue = admin.get(host.url("/admin/rewards?sort=amount&order=desc")).get_data(
        as_text=True
    )
    assert "$1,234,567.00" in queue
