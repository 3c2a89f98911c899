"""The program in force in the reward engine: versions, cache, hold and attribution."""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.program import service
from referral_site.referrals.program.cache import in_force
from referral_site.referrals.rewards import conversions
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.rewards.rules import DEFAULT_RULES
from referral_site.referrals.storage.models import Reward, RewardStatus
from tests.conftest import get_account
from tests.host_apps import BROWSER
from tests.reward_helpers import SIGNED_UP_DAYS_AGO, backdate_signup, referred_pair

MARCH = datetime(2026, 3, 10, 12, tzinfo=UTC)
RULE = {"name": "sale", "trigger": "first_conversion", "amount": 1000}


def program(**overrides) -> dict:
    return {
        "rules": [RULE],
        "hold_days": 14,
        "attribution_window_days": 30,
        "attribution_model": "first_touch",
        "referrer_offer": "",
        "referred_offer": "",
    } | overrides


def save(app, based_on, **overrides):
    with app.test_request_context():
        return service.save_program(
            program(**overrides), based_on=based_on, actor_id=None
        )


def convert(app, user_id, external_id):
    with app.app_context():
        conversions.record_conversion(
            user_id, kind="purchase", amount=10_000, external_id=external_id,
            occurred_at=MARCH,
        )  # fmt: skip


def count_queries(app, action) -> int:
    """How many statements an action sends to the database."""
    with app.app_context():
        engine = db.engine
    statements = []

    def record(conn, cursor, statement, *args):
        if statement != "BEGIN":  # SQLite's explicit BEGIN (TUNE_SQLITE) is no query
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return len(statements)


def new_referred(app, make_user, email):
    """Someone Ann referred, who joined before the conversions the tests date."""
    user_id = make_user(
        email, email[:3], code=get_account(app, "ann@example.com").code
    )[0]
    backdate_signup(app, user_id, days=SIGNED_UP_DAYS_AGO)
    return user_id


def test_reading_the_program_costs_one_query_per_request(app):
    save(app, 0, hold_days=5)
    save(app, 1, hold_days=6)

    def read_twice():
        with app.app_context():
            assert in_force().version == 2
            assert in_force().hold_days == 6

    assert count_queries(app, read_twice) == 1


def test_a_conversion_costs_the_same_queries_whatever_the_program(app, make_user):
    _, bob = referred_pair(make_user)
    first = new_referred(app, make_user, "cat@example.com")
    second = new_referred(app, make_user, "dan@example.com")
    convert(app, bob, "warm-up")  # the first write of a process warms its caches
    with_config = count_queries(app, lambda: convert(app, first, "ch_config"))
    for version in range(3):  # the configuration's rules, versions apart
        save(app, version, rules=DEFAULT_RULES, hold_days=version)
    with_versions = count_queries(app, lambda: convert(app, second, "ch_versions"))
    assert with_versions == with_config


def test_another_process_applies_a_saved_version_to_its_next_conversion(
    make_app, make_user
):
    worker_a = make_app()
    worker_b = make_app()  # its own program cache, the same database
    ann, bob = referred_pair(make_user)
    with worker_b.app_context():
        assert in_force().version == 0  # cached before the save
    save(worker_a, 0, rules=[RULE | {"amount": 4200}])
    convert(worker_b, bob, "ch_1")
    with worker_b.app_context():
        amount, version = db.session.execute(
            sa.select(Reward.amount_minor, Reward.program_version)
        ).one()
    assert (amount, version) == (4200, 1)


def test_a_reward_is_released_by_the_rule_of_its_own_version(app, make_user):
    _, bob = referred_pair(make_user)
    save(app, 0, rules=[RULE | {"review": True, "hold_days": 0}])
    convert(app, bob, "ch_1")  # granted by version 1: needs review
    save(app, 1, rules=[RULE | {"hold_days": 0}])  # version 2 needs none
    cat = new_referred(app, make_user, "cat@example.com")
    convert(app, cat, "ch_2")
    with app.app_context():
        rewards.process_rewards()
        statuses = db.session.execute(
            sa.select(Reward.program_version, Reward.status).order_by(Reward.id)
        ).all()
    assert [tuple(row) for row in statuses] == [
        (1, RewardStatus.REVIEW),
        (2, RewardStatus.APPROVED),
    ]


def test_the_programs_hold_days_set_the_hold_of_new_rewards(app, make_user):
    _, bob = referred_pair(make_user)
    save(app, 0, hold_days=3)
    convert(app, bob, "ch_1")
    with app.app_context():
        hold_until = db.session.scalar(sa.select(Reward.hold_until))
    assert hold_until == MARCH + timedelta(days=3)


def test_a_program_without_rules_grants_nothing(app, make_user):
    _, bob = referred_pair(make_user)
    save(app, 0, rules=[])
    convert(app, bob, "ch_1")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Reward.id))) == 0


def test_the_programs_attribution_model_decides_between_two_links(
    app, client, make_user
):
    make_user("ann@example.com", "Ann", code=None)
    zed_code = make_user("zed@example.com", "Zed")[1]
    ann_code = get_account(app, "ann@example.com").code
    save(app, 0, attribution_model="last_touch")
    client.get(f"/r/{ann_code}", headers=BROWSER)
    client.get(f"/r/{zed_code}", headers=BROWSER)
    page = client.get("/signup", headers=BROWSER).get_data(as_text=True)
    assert f'value="{zed_code}"' in page  # last touch: the latest link wins


def test_a_signup_costs_the_same_queries_whatever_the_program(app, make_user):
    code = make_user("ann@example.com", "Ann")[1]
    make_user("warm@example.com", "Warm", code=code)  # warms the process's caches
    with_config = count_queries(
        app, lambda: make_user("cat@example.com", "Cat", code=code)
    )
    for version in range(3):
        save(app, version, rules=DEFAULT_RULES, hold_days=version)
    with_versions = count_queries(
        app, lambda: make_user("dan@example.com", "Dan", code=code)
    )
    assert with_versions == with_config
