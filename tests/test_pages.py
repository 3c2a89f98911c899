"""The user's page, the admin report and the create-admin command."""

import re

import pytest
import sqlalchemy as sa

from referral_site.models import User
from tests.conftest import PASSWORD, login, scalar, signup


def test_my_referrals_needs_a_login(client):
    response = client.get("/referrals")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_my_referrals_shows_link_counts_and_masked_people(app, make_user):
    _, code = make_user()
    visitor = app.test_client()
    visitor.get(f"/r/{code}")
    visitor.get(f"/r/{code}")
    signup(visitor, email="bob.builder@example.com", name="Bob Builder")
    owner = app.test_client()
    login(owner, "ann@example.com")
    page = owner.get("/referrals").get_data(as_text=True)
    assert f'value="http://localhost/r/{code}"' in page
    assert 'data-copy-target="referral-link"' in page
    assert re.search(r'data-stat="clicks">2<', page)
    assert re.search(r'data-stat="signups">1<', page)
    assert "Bob Builder" in page and "b***@e***.com" in page
    assert "bob.builder@example.com" not in page


def test_users_see_only_their_own_referrals(app, make_user):
    _, ann_code = make_user("ann@example.com", "Ann")
    make_user("cat@example.com", "Cat")
    signup(app.test_client(), email="bob@example.com", name="Bob", code=ann_code)
    cat = app.test_client()
    login(cat, "cat@example.com")
    page = cat.get("/referrals").get_data(as_text=True)
    assert "Bob" not in page
    assert re.search(r'data-stat="signups">0<', page)


def test_my_referrals_paginates(make_app, make_user):
    app = make_app(REFERRALS_PAGE_SIZE=2)
    _, code = make_user()
    for n in range(5):
        make_user(f"friend{n}@example.com", f"Friend {n}", code=code)
    client = app.test_client()
    login(client, "ann@example.com")
    first = client.get("/referrals").get_data(as_text=True)
    third = client.get("/referrals?page=3").get_data(as_text=True)
    assert "Page 1 of 3" in first and "Friend 4" in first and "Friend 0" not in first
    assert "Friend 0" in third and "Friend 4" not in third
    assert client.get("/referrals?page=abc").status_code == 200


def test_admin_report_sends_anonymous_visitors_to_login(client):
    response = client.get("/admin")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_admin_report_is_forbidden_to_users(client, make_user):
    make_user()
    login(client, "ann@example.com")
    response = client.get("/admin")
    assert response.status_code == 403
    assert "Not allowed" in response.get_data(as_text=True)


def test_admin_report_shows_totals_and_top_referrers(app, make_user):
    make_user("boss@example.com", "Boss", admin=True)
    _, ann = make_user("ann@example.com", "Ann")
    _, cat = make_user("cat@example.com", "Cat")
    visitor = app.test_client()
    for _ in range(4):
        visitor.get(f"/r/{ann}")
    signup(visitor, email="bob@example.com", name="Bob")
    make_user("dan@example.com", "Dan", code=ann)
    make_user("eve@example.com", "Eve", code=cat)
    admin = app.test_client()
    login(admin, "boss@example.com")
    page = admin.get("/admin").get_data(as_text=True)
    assert re.search(r'data-stat="users">6<', page)
    assert re.search(r'data-stat="clicks">4<', page)
    assert re.search(r'data-stat="referred-signups">3<', page)
    assert re.search(r'data-stat="conversion-rate">75.0%<', page)
    assert page.index("Ann") < page.index("Cat")  # ranked by signups
    assert "Admin</a>" in page  # admins see the admin link


def test_admin_link_is_hidden_from_users(client, make_user):
    make_user()
    login(client, "ann@example.com")
    assert "Admin</a>" not in client.get("/referrals").get_data(as_text=True)


def test_create_admin_creates_an_admin(app, runner):
    result = runner.invoke(
        args=["create-admin", "Root@Example.com", "--password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    assert scalar(app, sa.select(User.is_admin).where(User.email == "root@example.com"))
    client = app.test_client()
    login(client, "root@example.com")
    assert client.get("/admin").status_code == 200


def test_create_admin_promotes_an_existing_user(app, runner, make_user):
    make_user()
    result = runner.invoke(
        args=["create-admin", "ann@example.com", "--password", "ignored pw 123"]
    )
    assert result.exit_code == 0, result.output
    assert scalar(app, sa.select(User.is_admin).where(User.email == "ann@example.com"))
    assert scalar(app, sa.select(sa.func.count(User.id))) == 1


@pytest.mark.parametrize(
    "args", [["not-an-email"], ["x@example.com", "--password", "short"]]
)
def test_create_admin_refuses_bad_input(app, runner, args):
    if "--password" not in args:
        args = [*args, "--password", PASSWORD]
    result = runner.invoke(args=["create-admin", *args])
    assert result.exit_code != 0
    assert scalar(app, sa.select(sa.func.count(User.id))) == 0


def test_unknown_pages_get_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "could not find that page" in response.get_data(as_text=True)
