"""The README's recipe, followed by examples/shop from a clean database.

The shop is copied to a temporary folder and its database is built by its own
migrations: first as a shop that had customers before referrals (its first
revision only), then the recipe's steps (a merge with the plugin's Alembic branch,
`flask db upgrade`, `flask referrals backfill`), and the journey: a link, the
shop's own registration, the referrer's page, the admin report.
"""

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.host_apps import BROWSER, own_database, post_form

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
    fields = {
        "username": username,
        "email": f"{username}@example.com",
        "password": "a long enough password",
    }
    return post_form(client, "/register", fields, code)


@pytest.fixture
def shop_folder(tmp_path):
    folder = tmp_path / "shop"
    leftovers = shutil.ignore_patterns("*.db", "__pycache__")
    shutil.copytree(EXAMPLE, folder, ignore=leftovers)
    return folder


def test_adding_referrals_to_a_shop_with_customers(shop_folder, tmp_path):
    """The recipe's migration steps on a shop that had customers before."""
    versions = shop_folder / "migrations" / "versions"
    for merge in ("shop_0002_add_referrals.py", "shop_0003_referrals_head.py"):
        (versions / merge).unlink()  # the recipe makes one merge of its own
    with own_database(tmp_path) as database:
        _flask(shop_folder, database, "db", "upgrade", "shop_0001")
        shop = _load_shop(shop_folder).create_app(database)
        with shop.app_context():
            shop.extensions["sqlalchemy"].session.execute(
                sa.text(
                    "INSERT INTO customers (username, email, password_hash, is_admin,"
                    " created_at) VALUES ('old', 'old@example.com', 'x', false, :at)"
                ),
                {"at": "2026-01-01 00:00:00+00:00"},
            )
            shop.extensions["sqlalchemy"].session.commit()
        merge = ("merge", "shop_0001", "referrals@head", "-m", "add referrals")
        _flask(shop_folder, database, "db", *merge)
        _flask(shop_folder, database, "db", "upgrade")
        again = _flask(shop_folder, database, "db", "migrate", "-m", "nothing")
        assert "No changes in schema detected." in again
        assert _drift(shop) == []  # the branch made the tables the models describe
        backfill = _flask(shop_folder, database, "referrals", "backfill")
        assert "Created 1 referral accounts." in backfill
        _journey(shop, shop.extensions["sqlalchemy"])


def test_the_shop_installs_and_uninstalls_from_its_migrations(shop_folder, tmp_path):
    with own_database(tmp_path) as database:
        _flask(shop_folder, database, "db", "upgrade")
        shop = _load_shop(shop_folder).create_app(database)
        assert _drift(shop) == []
        _flask(shop_folder, database, "db", "downgrade", "base")
        with shop.app_context():
            engine = shop.extensions["sqlalchemy"].engine
            assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
            engine.dispose()
        _flask(shop_folder, database, "db", "upgrade")
        assert _drift(shop) == []
        with shop.app_context():
            shop.extensions["sqlalchemy"].engine.dispose()


def _drift(app) -> list:
    """Differences between the database and every model, the plugin's included."""
    with app.app_context():
        shop_db = app.extensions["sqlalchemy"]
        with shop_db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True}
            )
            return compare_metadata(context, shop_db.metadata)


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
