"""Program settings edited in the browser: validation, versions, history, export.

The tests run on both hosts (tests/hosts.py), the site and the bookshop.
"""

import io
import json
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from referral_site.referrals.rewards import conversions
from referral_site.referrals.storage.models import Reward
from tests import host_fixtures
from tests.conftest import plugin_session
from tests.program_helpers import program_form, versions
from tests.reward_helpers import (
    SIGNED_UP_DAYS_AGO,
    backdate_signup,
    referred_pair,
    reward_ids,
)

# Each test here runs on both hosts.
app, make_user = host_fixtures.app, host_fixtures.make_user
client, admin = host_fixtures.client, host_fixtures.admin

MARCH = datetime(2026, 3, 10, 12, tzinfo=UTC)
#: The default program's rule, as the settings form shows it.
DEFAULT_RULE = {
    "name": "first-conversion",
    "recipient": "both",
    "amount": "10.00",
    "referred_amount": "5.00",
}


def convert(app, user_id, external_id="ch_1", amount=10_000):
    with app.app_context():
        conversions.record_conversion(
            user_id,
            kind="purchase",
            amount=amount,
            external_id=external_id,
            occurred_at=MARCH,
        )


def granted(app) -> list[tuple]:
    """(user_id, rule, amount, program_version) of every reward, in id order."""
    with app.app_context():
        return [
            tuple(row)
            for row in plugin_session(app).execute(
                sa.select(
                    Reward.user_id,
                    Reward.rule,
                    Reward.amount_minor,
                    Reward.program_version,
                ).order_by(Reward.id)
            )
        ]


def save(admin, rules, **settings):
    """Post the settings form (under the plugin's prefix on admin's host)."""
    prefix = admin.application.config["REFERRALS_URL_PREFIX"]
    return admin.post(f"{prefix}/admin/settings", data=program_form(rules, **settings))


def test_settings_are_for_admins_only(host, app, client, make_user):
    assert client.get(host.url("/admin/settings")).status_code == host.signed_out_status
    make_user("ann@example.com", "Ann")
    host.sign_in(client, "ann@example.com")
    assert client.get(host.url("/admin/settings")).status_code == 403
    assert client.get(host.url("/admin/settings/export.json")).status_code == 403
    assert client.post(host.url("/admin/settings"), data={}).status_code == 403


def test_the_configuration_is_in_force_until_a_version_is_saved(host, admin):
    page = admin.get(host.url("/admin/settings")).get_data(as_text=True)
    assert 'data-program-source="config"' in page
    assert 'value="first-conversion"' in page  # the configured rule, editable
    assert "Give your friends $5.00 off their first purchase" in page
    assert "No version saved yet" in page


def test_saving_a_rule_makes_a_version_with_who_and_what(host, app, admin):
    response = save(admin, [DEFAULT_RULE | {"amount": "15.00"}], hold_days=7)
    assert response.status_code == 302
    assert versions(app) == [1]
    page = admin.get(host.url("/admin/settings")).get_data(as_text=True)
    assert 'data-program-source="database"' in page
    assert "Version 1</strong>" in page and "by Boss" in page
    assert "Hold days: 14 → 7" in page
    assert "Rule first-conversion: amount $10.00 → $15.00" in page
    assert "$15.00 credit for each friend" in page


def test_the_next_conversion_uses_the_new_version_and_old_rewards_keep_theirs(
    host, app, admin, make_user
):
    ann, bob = referred_pair(make_user)
    convert(app, bob, "ch_1")
    assert save(admin, [DEFAULT_RULE | {"amount": "25.00"}]).status_code == 302
    dan, _ = make_user("dan@example.com", "Dan", code=host.code("Ann"))
    backdate_signup(app, dan, days=SIGNED_UP_DAYS_AGO)  # joined before buying
    convert(app, dan, "ch_2")
    assert granted(app) == [
        (ann, "first-conversion", 1000, None),
        (bob, "first-conversion", 500, None),
        (ann, "first-conversion", 2500, 1),
        (dan, "first-conversion", 500, 1),
    ]
    old, _, new, _ = reward_ids(app)
    old_page = admin.get(host.url(f"/admin/rewards/{old}")).get_data(as_text=True)
    assert 'data-program-version="0">the configuration\'s program' in old_page
    new_page = admin.get(host.url(f"/admin/rewards/{new}")).get_data(as_text=True)
    assert 'data-program-version="1"' in new_page and "version 1</a>" in new_page


@pytest.mark.parametrize(
    ("rules", "settings", "message"),
    [
        ([DEFAULT_RULE | {"amount": "ten"}], {}, "An amount such as 10.00"),
        ([DEFAULT_RULE | {"amount": "10.001"}], {}, "An amount such as 10.00"),
        ([DEFAULT_RULE | {"name": "Bad Name"}], {}, "use 1-64 lower-case letters"),
        ([DEFAULT_RULE | {"name": "adjustment"}], {}, "use 1-64 lower-case letters"),
        (
            [{"name": "welcome", "trigger": "signup", "amount": "10%"}],
            {},
            "a signup has no amount to take a percentage of",
        ),
        ([DEFAULT_RULE | {"amount": "150%"}], {}, "above 0 and at most 100"),
        ([DEFAULT_RULE | {"amount": ""}], {}, "give exactly one of amount or percent"),
        ([DEFAULT_RULE, DEFAULT_RULE], {}, "Reward rule names must be unique"),
        ([DEFAULT_RULE | {"currency": "US"}], {}, "an ISO 4217 code"),
        ([DEFAULT_RULE | {"currency": "XYZ"}], {}, "an ISO 4217 code"),
        (
            [{"name": "m", "trigger": "milestone", "amount": "50.00"}],
            {},
            "list the qualified-referral counts",
        ),
        (
            [{"name": "m", "trigger": "milestone", "amount": "5", "milestones": "a"}],
            {},
            "Whole numbers separated by commas",
        ),
        (
            [{"name": "m", "trigger": "milestone", "amount": "5", "milestones": "0"}],
            {},
            "positive whole numbers",
        ),
        (
            [DEFAULT_RULE | {"recipient": "referred", "trigger": "milestone"}],
            {},
            "milestone bonuses go to the referrer",
        ),
        ([DEFAULT_RULE | {"monthly_cap": "-5"}], {}, "a positive amount"),
        ([DEFAULT_RULE | {"hold_days": "-1"}], {}, "Number must be between"),
        ([DEFAULT_RULE], {"hold_days": "-1"}, "Number must be between"),
        ([DEFAULT_RULE], {"hold_days": "soon"}, "Not a valid integer"),
        ([DEFAULT_RULE], {"attribution_window_days": "0"}, "Number must be between"),
        ([DEFAULT_RULE], {"attribution_model": "linear"}, "Not a valid choice"),
        ([DEFAULT_RULE | {"trigger": "whenever"}], {}, "Not a valid choice"),
        ([DEFAULT_RULE], {"referrer_offer": "x" * 301}, "300 characters"),
    ],
)
def test_a_bad_program_is_a_form_error_and_saves_nothing(
    host, app, admin, rules, settings, message
):
    response = save(admin, rules, **settings)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert versions(app) == []


def test_a_save_based_on_an_older_version_is_refused(host, app, admin):
    assert save(admin, [DEFAULT_RULE | {"amount": "12.00"}]).status_code == 302
    stale = save(admin, [DEFAULT_RULE | {"amount": "20.00"}], based_on=0)
    assert stale.status_code == 400
    assert "changed by someone else meanwhile (now version 1)" in stale.get_data(
        as_text=True
    )
    assert versions(app) == [1]


def test_saving_the_same_program_again_makes_no_version(host, app, admin):
    response = save(admin, [DEFAULT_RULE])
    assert response.status_code == 400
    assert "Nothing changed" in response.get_data(as_text=True)
    assert versions(app) == []


def test_a_rule_can_be_removed_and_added(host, app, admin):
    rules = [
        DEFAULT_RULE | {"remove": True},
        {
            "name": "welcome",
            "trigger": "signup",
            "recipient": "referred",
            "amount": "3",
        },
    ]
    assert save(admin, rules).status_code == 302
    page = admin.get(host.url("/admin/settings")).get_data(as_text=True)
    assert "Rule first-conversion removed" in page
    assert "Rule welcome added" in page
    assert "Get $3.00 off when you sign up." in page


def test_the_settings_form_needs_a_csrf_token(host, app, admin):
    app.config["WTF_CSRF_ENABLED"] = True  # the site's tests turn it off
    response = admin.post(
        host.url("/admin/settings"),
        data=program_form([DEFAULT_RULE | {"amount": "99.00"}]),
        csrf=False,
    )
    assert response.status_code == 400
    assert versions(app) == []


def test_export_then_import_round_trips_through_validation(host, app, admin):
    assert (
        save(admin, [DEFAULT_RULE | {"amount": "12.50"}], hold_days=3).status_code
        == 302
    )
    exported = admin.get(host.url("/admin/settings/export.json"))
    assert exported.mimetype == "application/json"
    assert "referral-program-v1.json" in exported.headers["Content-Disposition"]
    document = json.loads(exported.get_data(as_text=True))
    assert document["version"] == 1 and document["hold_days"] == 3
    assert document["rules"][0]["amount"] == 1250
    document["attribution_model"] = "last_touch"
    response = admin.post(
        host.url("/admin/settings/import"),
        data={"based_on": "1", "text": json.dumps(document)},
    )
    assert response.status_code == 302
    assert versions(app) == [1, 2]
    assert "Attribution model: first_touch → last_touch" in admin.get(
        host.url("/admin/settings")
    ).get_data(as_text=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "file: not JSON"),
        ("[1, 2]", "program: a JSON object"),
        ('{"rules": "x", "hold_days": 1}', "rules: a list of rules"),
        (
            json.dumps(
                {
                    "rules": [{"name": "r", "trigger": "signup", "percent": 5}],
                    "hold_days": 1,
                    "attribution_window_days": 30,
                    "attribution_model": "first_touch",
                }
            ),
            "a signup has no amount to take a percentage of",
        ),
        ('{"hold_days": true}', "hold_days: a whole number of days"),
        ('{"surprise": 1}', "unknown field surprise"),
    ],
)
def test_a_bad_import_is_a_form_error_and_saves_nothing(
    host, app, admin, text, message
):
    response = admin.post(
        host.url("/admin/settings/import"), data={"based_on": "0", "text": text}
    )
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert versions(app) == []


def test_an_import_as_a_file_upload(host, app, admin):
    document = json.loads(
        admin.get(host.url("/admin/settings/export.json")).get_data(as_text=True)
    )
    document["hold_days"] = 0
    upload = (io.BytesIO(json.dumps(document).encode()), "program.json")
    response = admin.post(
        host.url("/admin/settings/import"),
        data={"based_on": "0", "file": upload},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert versions(app) == [1]


def test_a_rules_error_is_marked_on_its_field(host, app, admin):
    rules = [DEFAULT_RULE, {"name": "welcome", "trigger": "signup", "amount": "10%"}]
    page = save(admin, rules).get_data(as_text=True)
    assert 'id="rules-1-amount-errors"' in page
    (field,) = re.findall(r'<input[^>]*id="rules-1-amount"[^>]*>', page)
    assert 'aria-invalid="true"' in field and 'value="10%"' in field
    assert "a signup has no amount to take a percentage of" in page
    assert 'value="welcome"' in page  # what was typed stays in the form
    assert versions(app) == []


def test_renewal_refund_and_verification_options_survive_the_form(host, app, admin):
    """Every rule option can be set in the browser and is kept by each later save
    (a field the form did not know would be dropped on the next save)."""
    renewals = {
        "name": "renewals",
        "trigger": "every_conversion",
        "amount": "20%",
        "conversion_kinds": "renewal",
        "months": "12",
        "customer_cap": "100.00",
        "fixed_clawback": "full",
        "verified_email": True,
    }
    if host.kind != "site":
        # The bookshop's readers have no verified address: the rule says why.
        refused = save(admin, [DEFAULT_RULE, renewals]).get_data(as_text=True)
        assert "verified_email: the user model has no email_verified_at" in refused
        renewals["verified_email"] = False
    assert save(admin, [DEFAULT_RULE, renewals]).status_code == 302
    page = admin.get(host.url("/admin/settings")).get_data(as_text=True)
    assert (
        save(admin, [DEFAULT_RULE, renewals], based_on=1, hold_days=7).status_code
        == 302
    )
    document = json.loads(
        admin.get(host.url("/admin/settings/export.json")).get_data(as_text=True)
    )
    (rule,) = [rule for rule in document["rules"] if rule["name"] == "renewals"]
    assert rule["months"] == 12 and rule["customer_cap"] == 10_000
    assert rule["fixed_clawback"] == "full"
    assert rule.get("verified_email", False) is renewals["verified_email"]
    assert 'value="100.00"' in page and 'value="12"' in page
