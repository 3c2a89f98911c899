"""The README's recipe, followed by examples/shop from a clean database.

The shop is copied to a temporary folder; its migrations are made there by
`flask db init` and `flask db migrate`, as a newcomer would, then the journey
runs: a link, the shop's own registration, the referrer's page, the admin report.
"""

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.host_apps import BROWSER, own_database

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "shop"


def _flask(folder: Path, database: dict, *args: str) -> str:
    url = _url_with_schema(database)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "shop", *args],
        cwd=folder,
        env={"PATH": "/usr/bin:/bin", "SHOP_DATABASE_URL": url, "HOME": str(folder)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _url_with_schema(database: dict) -> str:
    """The database URL, carrying a PostgreSQL schema in the URL for the CLI."""
    url = database["SQLALCHEMY_DATABASE_URI"]
    options = database.get("SQLALCHEMY_ENGINE_OPTIONS", {}).get("connect_args", {})
    if "options" in options:
        search_path = options["options"].replace("=", "%3D")
        url += ("&" if "?" in url else "?") + f"options={search_path}"
    return url


def _load_shop(folder: Path):
    spec = importlib.util.spec_from_file_location("example_shop", folder / "shop.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["example_shop"] = module  # where Flask looks for its templates
    spec.loader.exec_module(module)
    return module


def _register(client, username: str, code: str | None = None):
    page = client.get("/register", headers=BROWSER).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    typed = re.search(r'id="referral_code"[^>]*value="([^"]*)"', page)
    return client.post(
        "/register",
        headers=BROWSER,
        data={
            "csrf_token": token,
            "username": username,
            "email": f"{username}@example.com",
            "password": "a long enough password",
            "referral_code": code if code is not None else (typed[1] if typed else ""),
        },
    )


@pytest.fixture
def shop_folder(tmp_path):
    folder = tmp_path / "shop"
    shutil.copytree(
        EXAMPLE,
        folder,
        ignore=shutil.ignore_patterns("*.db", "migrations", "__pycache__"),
    )
    return folder


def test_the_recipe_from_a_clean_database(shop_folder, tmp_path):
    with own_database(tmp_path) as database:
        _flask(shop_folder, database, "db", "init")
        _flask(shop_folder, database, "db", "migrate", "-m", "customers and referrals")
        _flask(shop_folder, database, "db", "upgrade")
        again = _flask(shop_folder, database, "db", "migrate", "-m", "nothing")
        assert "No changes in schema detected." in again
        revisions = list((shop_folder / "migrations" / "versions").glob("*.py"))
        assert len(revisions) == 1  # the second migrate wrote nothing
        text = revisions[0].read_text()
        assert "referral_site" not in text  # plain SQLAlchemy types only
        assert "sa.ForeignKeyConstraint(['referred_id'], ['customers.id']" in text

        shop = _load_shop(shop_folder).create_app(database)
        _journey(shop, shop.extensions["sqlalchemy"])


def _journey(shop, shop_db) -> None:
    ann = shop.test_client()
    assert _register(ann, "ann").status_code == 302
    page = ann.get("/rewards/referrals").get_data(as_text=True)
    code = re.search(r"/rewards/r/(\w+)", page)[1]
    visitor = shop.test_client()
    assert visitor.get(f"/rewards/r/{code}", headers=BROWSER).location == "/register"
    assert _register(visitor, "bob").status_code == 302
    mine = ann.get("/rewards/referrals").get_data(as_text=True)
    assert "bob" in mine and "The Shop" in mine  # in the shop's own layout
    assert ann.get("/rewards/admin").status_code == 403
    with shop.app_context():
        shop_db.session.execute(
            sa.text("UPDATE customers SET is_admin = :yes WHERE username = 'ann'"),
            {"yes": True},
        )
        shop_db.session.commit()
    report = ann.get("/rewards/admin")
    assert report.status_code == 200 and "ann" in report.get_data(as_text=True)
    with shop.app_context():
        shop_db.session.remove()
        shop_db.engine.dispose()
