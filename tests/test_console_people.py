"""Finding people in the console and acting on them; the email blocklist.

The tests run on both hosts (tests/hosts.py), the site and the bookshop, but
disabling accounts: the plugin does that only for a host whose accounts it
manages (REFERRALS_AUTH_VIEWS, the site); the bookshop's are its own.
"""

import re

import pytest
import sqlalchemy as sa

from referral_site.referrals.admin.models import ReferrerNote
from referral_site.referrals.storage.models import Referral, RewardEvent
from tests import host_fixtures
from tests.conftest import scalar
from tests.hosts import site_host
from tests.reward_helpers import rewards_of
from tests.test_reports import add_reward

# Each test here runs on both hosts.
app, make_user = host_fixtures.app, host_fixtures.make_user
client, admin = host_fixtures.client, host_fixtures.admin


def _people(host, admin):
    """Ann (who changed her code once) referred Bob; Cy is on his own."""
    make_user, app = host.users, host.app
    ann_id, code = make_user("ann.rivera@example.com", "Ann Rivera")
    bob_id, _ = make_user("bob@example.com", "Bob Okafor", code=code)
    cy_id, _ = make_user("cy@example.org", "Cy Tanaka")
    ann = app.test_client()
    host.sign_in(ann, "ann.rivera@example.com")
    ann.post(host.url("/referrals/code"), data={"code": "ANNSHARES"})
    ids = {"ann": ann_id, "bob": bob_id, "cy": cy_id}
    return admin, {name: str(key) for name, key in ids.items()} | {"old_code": code}


@pytest.fixture
def people(host, admin):
    """_people on the host: an admin's client and everyone's keys."""
    return _people(host, admin)


@pytest.fixture
def site_people(make_app):
    """_people on the site alone: (the site, an admin's client, the keys)."""
    site = site_host(make_app())
    return site, *_people(site, site.admin("Boss"))


def _found(admin, query: str) -> list[str]:
    """The keys of the people the directory lists for query (strings)."""
    prefix = admin.application.config["REFERRALS_URL_PREFIX"]
    page = admin.get(f"{prefix}/admin/referrers{query}").get_data(as_text=True)
    return re.findall(r'<tr data-person="([^"]+)"', page)


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("ann.rivera@example.com", "ann"),
        ("ANN.R", "ann"),  # the start of an email, whatever its case
        ("bob okafor", "bob"),
        ("Cy", "cy"),
        ("annshares", "ann"),  # current code
        ("{old_code}", "ann"),  # an older code still finds its owner
        ("{cy}", "cy"),  # a user id
    ],
)
def test_people_are_found_by_email_name_code_old_code_or_id(people, query, who):
    admin, ids = people
    query = query.format(**ids)
    assert ids[who] in _found(admin, "?q=" + query)


def test_a_referral_id_finds_both_its_people(host, app, people):
    admin, ids = people
    referral_id = scalar(app, sa.select(Referral.id))
    found = _found(admin, f"?q={referral_id}")
    assert ids["ann"] in found and ids["bob"] in found


def test_nothing_found_says_so(host, people):
    admin, _ = people
    page = admin.get(host.url("/admin/referrers?q=zzz-nobody")).get_data(as_text=True)
    assert "Nobody matches “zzz-nobody”." in page


def test_filters_narrow_to_flagged_disabled_and_ready(host, app, people):
    admin, ids = people
    add_reward(app, ids["cy"], 500, status="review")
    assert _found(admin, "?ready=1") == [ids["cy"]]
    assert _found(admin, "?ready=1&q=ann") == []
    with app.app_context():
        from referral_site.referrals.fraud import review as fraud

        fraud.flag_referral(scalar(app, sa.select(Referral.id)), ["same_ip"])
    assert _found(admin, "?flagged=1") == [ids["ann"]]


def test_the_directory_without_a_search_lists_the_newest_members(people):
    admin, ids = people
    found = _found(admin, "")
    assert set(ids[name] for name in ("ann", "bob", "cy")) <= set(found)


def test_a_persons_page_links_everywhere_they_are_named(host, app, people):
    admin, ids = people
    page = admin.get(host.url(f"/admin/referrers/{ids['bob']}")).get_data(as_text=True)
    assert f'href="{host.url("/admin/referrers/")}{ids["ann"]}"' in page  # referrer
    page = admin.get(host.url(f"/admin/referrers/{ids['ann']}?range=all")).get_data(
        as_text=True
    )
    assert f'href="{host.url("/admin/referrers/")}{ids["bob"]}"' in page  # referred
    assert f'href="{host.url("/admin/rewards")}?person={ids["ann"]}"' in page
    assert ids["old_code"] in page  # older codes are listed


def test_disabling_ends_their_sessions_and_is_noted(site_people):
    host, admin, ids = site_people
    bob = host.client()
    host.sign_in(bob, "bob@example.com")
    assert bob.get(host.url("/referrals")).status_code == 200
    response = admin.post(
        host.url(f"/admin/referrers/{ids['bob']}/access"),
        data={"access-reason": "chargebacks", "access-disable": "1"},
        follow_redirects=True,
    )
    assert "Account disabled." in response.get_data(as_text=True)
    assert _found(admin, "?disabled=1") == [ids["bob"]]
    signed_out = host.signed_out_status
    assert bob.get(host.url("/referrals")).status_code == signed_out
    assert _signed_in_again(host, "bob@example.com") == signed_out
    page = admin.get(host.url(f"/admin/referrers/{ids['bob']}")).get_data(as_text=True)
    assert "Disabled the account: chargebacks" in page and ">disabled<" in page
    admin.post(
        host.url(f"/admin/referrers/{ids['bob']}/access"),
        data={"access-reason": "sorted out", "access-enable": "1"},
    )
    assert _signed_in_again(host, "bob@example.com") == 200


def _signed_in_again(host, email) -> int:
    """Sign in through the host's own page, then open /referrals: its status."""
    client = host.client()
    host.sign_in(client, email)
    return client.get(host.url("/referrals")).status_code


def test_disabling_needs_a_reason_and_never_the_admins_own_account(site_people):
    host, admin, ids = site_people
    admin.post(
        host.url(f"/admin/referrers/{ids['bob']}/access"), data={"access-disable": "1"}
    )
    assert _signed_in_again(host, "bob@example.com") == 200  # no reason: enabled
    boss = host.user_id("Boss")
    page = admin.post(
        host.url(f"/admin/referrers/{boss}/access"),
        data={"access-reason": "oops", "access-disable": "1"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "You cannot disable your own account." in page


def test_notes_are_kept_with_their_author(host, app, people):
    admin, ids = people
    admin.post(
        host.url(f"/admin/referrers/{ids['cy']}/notes"), data={"body": "Called: fine."}
    )
    page = admin.get(host.url(f"/admin/referrers/{ids['cy']}")).get_data(as_text=True)
    assert "Called: fine." in page and "Boss" in page
    admin.post(host.url(f"/admin/referrers/{ids['cy']}/notes"), data={"body": "  "})
    assert scalar(app, sa.select(sa.func.count(ReferrerNote.id))) == 1


def test_an_admin_changes_someones_code_and_the_old_one_keeps_working(
    host, app, people
):
    admin, ids = people
    page = admin.post(
        host.url(f"/admin/referrers/{ids['cy']}/code"),
        data={"code": "cyclub"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Their code is now CYCLUB" in page
    taken = admin.post(
        host.url(f"/admin/referrers/{ids['cy']}/code"),
        data={"code": "annshares"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Code not changed: That code is taken" in taken


def test_a_manual_reward_and_a_deduction_go_into_the_reward_history(host, app, people):
    admin, ids = people
    for button, amount in (("give", "12.50"), ("deduct", "2")):
        admin.post(
            host.url(f"/admin/referrers/{ids['cy']}/adjust"),
            data={
                button: "1",
                "amount": amount,
                "currency": "usd",
                "reason": "goodwill" if button == "give" else "overpaid",
            },
        )
    assert [row[1:] for row in rewards_of(app, user_id=ids["cy"])] == [
        ("manual", 1250, "USD", "approved"),
        ("manual-deduction", -200, "USD", "approved"),
    ]
    reasons = scalar(
        app,
        sa.select(sa.func.count(RewardEvent.id)).where(
            RewardEvent.actor_id.isnot(None)
        ),
    )
    assert reasons == 2
    cy = app.test_client()
    host.sign_in(cy, "cy@example.org")
    page = cy.get(host.url("/referrals")).get_data(as_text=True)
    assert re.search(r'data-total="approved">\$10.50<', page)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"amount": "abc"}, "Write the amount as a number"),
        ({"amount": "1.234"}, "at most 2 decimals"),
        ({"amount": "0"}, "above zero"),
        ({"currency": "XXQ"}, "not an ISO 4217 currency"),
        ({"reason": ""}, "Reason"),
    ],
)
def test_a_malformed_adjustment_is_refused_with_a_reason(
    host, app, people, data, message
):
    admin, ids = people
    form = {"give": "1", "amount": "5", "currency": "USD", "reason": "x"}
    page = admin.post(
        host.url(f"/admin/referrers/{ids['cy']}/adjust"),
        data=form | data,
        follow_redirects=True,
    ).get_data(as_text=True)
    assert message in page
    assert rewards_of(app, user_id=ids["cy"]) == []


@pytest.mark.parametrize("path", ["/access", "/notes", "/code", "/adjust"])
def test_person_actions_are_for_admins_only(host, app, people, path):
    _, ids = people
    ann = app.test_client()
    host.sign_in(ann, "ann.rivera@example.com")
    assert (
        ann.post(host.url(f"/admin/referrers/{ids['cy']}{path}"), data={}).status_code
        == 403
    )
    assert ann.get(host.url("/admin/referrers?q=cy")).status_code == 403


def test_blocked_addresses_and_domains_cannot_sign_up(host, app, people):
    admin, _ = people
    admin.post(
        host.url("/admin/fraud/blocklist"),
        data={"value": "@Spam.Example", "reason": "x"},
    )
    admin.post(host.url("/admin/fraud/blocklist"), data={"value": "eve@example.com"})
    page = admin.get(host.url("/admin/fraud")).get_data(as_text=True)
    assert "spam.example" in page and "eve@example.com" in page
    for n, email in enumerate(
        ("a@spam.example", "b@mail.spam.example", "EVE@example.com")
    ):
        response = host.join(host.client(), f"blocked{n}", "", email)
        assert response.status_code == 400, email
        assert "are not accepted" in response.get_data(as_text=True)
    assert host.join(host.client(), "ok", "", "ok@example.com").status_code == 302
    bad = admin.post(
        host.url("/admin/fraud/blocklist"),
        data={"value": "not a domain"},
        follow_redirects=True,
    )
    assert "Enter an email address" in bad.get_data(as_text=True)
    entry = re.search(r"/admin/fraud/blocklist/(\d+)/delete", page).group(1)
    admin.post(host.url(f"/admin/fraud/blocklist/{entry}/delete"))
    remaining = admin.get(host.url("/admin/fraud")).get_data(as_text=True)
    assert remaining.count("/delete") == 1
