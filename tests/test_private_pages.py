"""Signed-in pages and exports are kept out of caches (Cache-Control: no-store),
on the site and on a host unlike it (issue 16, item 11)."""

from tests.conftest import login
from tests.hosts import BROWSER, Host

#: The plugin's pages a signed-in admin opens; each carries what it shows.
PRIVATE = [
    "/referrals",
    "/admin",
    "/admin/rewards",
    "/admin/fraud",
    "/admin/export/referrals.csv?range=all",
    "/admin/export/rewards.csv?range=all",
    "/admin/export/leaderboard.csv?range=all",
    "/referrals/export",
]


def test_signed_in_pages_and_exports_are_no_store(host: Host):
    admin = host.referring_admin()
    for path in PRIVATE + [f"/admin/referrers/{host.user_id('bob')}"]:
        response = admin.get(host.url(path), headers=BROWSER)
        response.get_data()  # the CSV exports stream: read them to the end
        assert response.status_code == 200, path
        assert response.headers.get("Cache-Control") == "no-store", path


def test_public_pages_may_be_cached_and_the_qr_code_keeps_its_own(host: Host):
    visitor = host.app.test_client()
    response = visitor.get("/", headers=BROWSER)
    assert "no-store" not in response.headers.get("Cache-Control", "")
    admin = host.referring_admin()
    qr = admin.get(host.url("/referrals/qr.svg"), headers=BROWSER)
    assert qr.headers["Cache-Control"] == "private, max-age=3600"
    static = admin.get(host.url("/_referrals/static/referrals.css"))
    assert "no-store" not in static.headers.get("Cache-Control", "")


def test_the_sites_own_pages_are_no_store_once_signed_in(client, make_user):
    make_user()
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")
    login(client, "ann@example.com")
    for path in ("/", "/login", "/does-not-exist"):
        assert client.get(path).headers.get("Cache-Control") == "no-store", path
