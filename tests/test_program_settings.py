"""Program settings edited in the browser: validation, versions, history, export."""

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.program.models import ProgramVersion
from referral_site.referrals.rewards import conversions
from referral_site.referrals.storage.models import Reward
from tests.conftest import get_account, login
from tests.program_helpers import program_form, versions
from tests.reward_helpers import referred_pair, reward_ids

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
            for row in db.session.execute(
                sa.select(
                    Reward.user_id,
                    Reward.rule,
                    Reward.amount_minor,
                    Reward.program_version,
                ).order_by(Reward.id)
            )
        ]


def save(admin, rules, **settings):
    return admin.post("/admin/settings", data=program_form(rules, **settings))


def test_settings_are_for_admins_only(app, client, make_user):
    assert client.get("/admin/settings").status_code == 302
    make_user("ann@example.com", "Ann")
    login(client, "ann@example.com")
    assert client.get("/admin/settings").status_code == 403
    assert client.get("/admin/settings/export.json").status_code == 403
    assert client.post("/admin/settings", data={}).status_code == 403


def test_the_configuration_is_in_force_until_a_version_is_saved(admin):
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert 'data-program-source="config"' in page
    assert 'value="first-conversion"' in page  # the configured rule, editable
    assert "Give your friends $5.00 off their first purchase" in page
    assert "No version saved yet" in page


def test_saving_a_rule_makes_a_version_with_who_and_what(app, admin):
    response = save(admin, [DEFAULT_RULE | {"amount": "15.00"}], hold_days=7)
    assert response.status_code == 302
    assert versions(app) == [1]
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert 'data-program-source="database"' in page
    assert "Version 1</strong>" in page and "by Boss" in page
    assert "Hold days: 14 → 7" in page
    assert "Rule first-conversion: amount $10.00 → $15.00" in page
    assert "$15.00 credit for each friend" in page


def test_the_next_conversion_uses_the_new_version_and_old_rewards_keep_theirs(
    app, admin, make_user
):
    ann, bob = referred_pair(make_user)
    convert(app, bob, "ch_1")
    assert save(admin, [DEFAULT_RULE | {"amount": "25.00"}]).status_code == 302
    dan, _ = make_user(
        "dan@example.com", "Dan", code=get_account(app, "ann@example.com").code
    )
    convert(app, dan, "ch_2")
    assert granted(app) == [
        (ann, "first-conversion", 1000, None),
        (bob, "first-conversion", 500, None),
        (ann, "first-conversion", 2500, 1),
        (dan, "first-conversion", 500, 1),
    ]
    old, _, new, _ = reward_ids(app)
    old_page = admin.get(f"/admin/rewards/{old}").get_data(as_text=True)
    assert 'data-program-version="0">the configuration\'s program' in old_page
    new_page = admin.get(f"/admin/rewards/{new}").get_data(as_text=True)
    assert 'data-program-version="1"' in new_page and "version 1</a>" in new_page
