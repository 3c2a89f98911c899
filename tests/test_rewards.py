"""The rewards engine: rules, caps, milestones, hold, refunds, review decisions.

The tests run on both hosts (tests/hosts.py), the site and the bookshop, with
their people made through each host's own signup; the rules' validation at
startup and the site's own signup service stay on the site.
"""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from referral_site.referrals.rewards import conversions
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.rewards import grants as reward_grants
from referral_site.referrals.rewards import queries as reward_queries
from referral_site.referrals.rewards.rules import RuleConfigError
from referral_site.referrals.storage.models import (
    Referral,
    ReferralAccount,
    ReviewStatus,
    Reward,
    RewardEvent,
    RewardStatus,
)
from referral_site.referrals.storage.transactions import write_transaction
from tests.conftest import plugin_session
from tests.reward_helpers import (
    referred_pair,
    reward_ids,
    rewards_of,
    set_review_status,
    signing_up_long_ago,
)


@pytest.fixture
def app(host):
    return host.app


@pytest.fixture
def make_user(host):
    """People of the host (the site, then the bookshop) joining through its own
    signup; the referred signed up long ago, before the conversions dated back."""
    return signing_up_long_ago(host.users)


def _build(make_host, **settings):
    """This test's host with settings: its app, and make_user as above."""
    host = make_host(**settings)
    return host.app, signing_up_long_ago(host.users)


MARCH = datetime(2026, 3, 10, 12, tzinfo=UTC)


def convert(app, user_id, external_id="ch_1", amount=10_000, when=MARCH, **extra):
    with app.app_context():
        return conversions.record_conversion(
            user_id,
            kind=extra.pop("kind", "purchase"),
            amount=amount,
            external_id=external_id,
            occurred_at=when,
            **extra,
        )


def rule(**fields):
    """A rule mapping; a field given as None is left out."""
    merged = {"name": "r", "trigger": "first_conversion", "amount": 1000} | fields
    return {key: value for key, value in merged.items() if value is not None}


@pytest.mark.parametrize(
    ("amount", "percent", "expected"),
    [
        (1005, "10", 101),  # 100.5 rounds half up
        (1004, "10", 100),  # 100.4 rounds down
        (999, "12.5", 125),  # 124.875
        (1, "50", 1),  # 0.5 rounds up to one minor unit
        (10_000, "0.01", 1),
        (333, "33.3", 111),  # 110.889
    ],
)
def test_percentage_rewards_round_half_up_to_a_minor_unit(
    make_host, amount, percent, expected
):
    app, make_user = _build(
        make_host, REFERRALS_REWARD_RULES=[rule(amount=None, percent=percent)]
    )
    ann, bob = referred_pair(make_user)
    convert(app, bob, amount=amount)
    assert rewards_of(app) == [(ann, "r", expected, "USD", RewardStatus.PENDING)]


def test_a_percentage_that_rounds_to_nothing_grants_nothing(make_host):
    app, make_user = _build(
        make_host, REFERRALS_REWARD_RULES=[rule(amount=None, percent=10)]
    )
    _, bob = referred_pair(make_user)
    convert(app, bob, amount=4)  # 0.4 of a cent
    assert rewards_of(app) == []


def test_percentages_are_paid_in_the_conversions_currency(make_host):
    app, make_user = _build(
        make_host,
        REFERRALS_REWARD_RULES=[
            rule(
                amount=None,
                percent=10,
                recipient="both",
                referred_amount=300,
                currency="EUR",
            )
        ],
    )
    ann, bob = referred_pair(make_user)
    convert(app, bob, amount=5000, currency="JPY")
    assert rewards_of(app) == [
        (ann, "r", 500, "JPY", RewardStatus.PENDING),
        (bob, "r", 300, "EUR", RewardStatus.PENDING),
    ]


@pytest.mark.parametrize(
    ("recipient", "expected_users"),
    [("referrer", ["ann"]), ("referred", ["bob"]), ("both", ["ann", "bob"])],
)
def test_rules_pay_the_configured_recipients(make_host, recipient, expected_users):
    app, make_user = _build(
        make_host, REFERRALS_REWARD_RULES=[rule(recipient=recipient)]
    )
    ann, bob = referred_pair(make_user)
    convert(app, bob)
    ids = {"ann": ann, "bob": bob}
    assert [r[0] for r in rewards_of(app)] == [ids[name] for name in expected_users]


def test_every_conversion_rules_fire_per_conversion_of_matching_kinds(make_host):
    app, make_user = _build(
        make_host,
        REFERRALS_REWARD_RULES=[
            rule(trigger="every_conversion", conversion_kinds=["subscription"])
        ],
    )
    ann, bob = referred_pair(make_user)
    convert(app, bob, "a", kind="subscription")
    convert(app, bob, "b", kind="purchase")
    convert(app, bob, "c", kind="subscription")
    convert(app, bob, "c", kind="subscription")  # replay
    assert len(rewards_of(app)) == 2


def test_first_conversion_rules_wait_for_a_conversion_of_their_kind(make_host):
    app, make_user = _build(
        make_host, REFERRALS_REWARD_RULES=[rule(conversion_kinds=["purchase"])]
    )
    _, bob = referred_pair(make_user)
    convert(app, bob, "a", kind="signup", amount=0)
    assert rewards_of(app) == []
    convert(app, bob, "b", kind="purchase")
    convert(app, bob, "c", kind="purchase")
    assert len(rewards_of(app)) == 1


def test_signup_rules_grant_when_the_referred_user_signs_up(make_host):
    host = make_host(
        REFERRALS_REWARD_RULES=[
            rule(name="welcome", trigger="signup", recipient="referred", amount=200)
        ]
    )
    app = host.app
    _, code = host.make_user("ann")
    bob, _ = host.make_user("bob", code)
    host.make_user("solo", "")
    assert rewards_of(app) == [(bob, "welcome", 200, "USD", RewardStatus.PENDING)]
    with app.app_context(), write_transaction() as session:
        referral = session.scalar(sa.select(Referral))
        again = reward_grants.grant_for_signup(
            session, referral, notices=rewards.Notices()
        )
        assert again == []  # once only
    assert len(rewards_of(app)) == 1


def test_a_signup_and_its_signup_rewards_commit_together(make_host, monkeypatch):
    host = make_host(REFERRALS_REWARD_RULES=[rule(name="welcome", trigger="signup")])
    _, code = host.make_user("ann")
    granted = reward_grants._grant_both_sides

    def grant_then_fail(*args, **kwargs):
        granted(*args, **kwargs)  # the reward row is written...
        raise RuntimeError("crash after the grant")  # ...then signup fails

    monkeypatch.setattr(reward_grants, "_grant_both_sides", grant_then_fail)
    host.app.config["PROPAGATE_EXCEPTIONS"] = True  # the crash reaches the test
    with pytest.raises(RuntimeError):
        host.join(host.client(), "bob", code)
    assert host.user_id("bob") is None  # the host's own row went with it
    assert host.count(ReferralAccount.user_id) == 1  # Ann alone
    assert host.count(Referral.id) == 0
    assert rewards_of(host.app) == []


def _friends(make_user, code, count, start=0):
    return [
        make_user(f"friend{n}@example.com", f"Friend {n}", code=code)[0]
        for n in range(start, start + count)
    ]


@pytest.mark.parametrize(
    ("cap", "expected"),
    [
        (2500, [1000, 1000, 500]),  # the third is cut to what is left
        (2000, [1000, 1000]),  # exactly reached: nothing more
        (3000, [1000, 1000, 1000]),
        (999, [999]),
    ],
)
def test_monthly_caps_cut_the_referrers_rewards_at_the_edge(make_host, cap, expected):
    app, make_user = _build(make_host, REFERRALS_REWARD_RULES=[rule(monthly_cap=cap)])
    ann, code = make_user()
    for n, friend in enumerate(_friends(make_user, code, 4)):
        convert(app, friend, f"ch_{n}", when=MARCH + timedelta(days=n))
    assert [r[2] for r in rewards_of(app, user_id=ann)] == expected


def test_monthly_caps_start_again_each_calendar_month(make_host):
    app, make_user = _build(make_host, REFERRALS_REWARD_RULES=[rule(monthly_cap=1000)])
    ann, code = make_user()
    friends = _friends(make_user, code, 3)
    convert(app, friends[0], "a", when=datetime(2026, 3, 31, 23, 59, tzinfo=UTC))
    convert(app, friends[1], "b", when=datetime(2026, 3, 1, 0, 0, tzinfo=UTC))
    convert(app, friends[2], "c", when=datetime(2026, 4, 1, 0, 0, tzinfo=UTC))
    assert [r[2] for r in rewards_of(app, user_id=ann)] == [1000, 1000]


def test_lifetime_caps_count_every_month_and_spare_the_referred_side(make_host):
    app, make_user = _build(
        make_host, REFERRALS_REWARD_RULES=[rule(recipient="both", lifetime_cap=1500)]
    )
    ann, code = make_user()
    friends = _friends(make_user, code, 3)
    for n, friend in enumerate(friends):
        convert(app, friend, f"ch_{n}", when=MARCH + timedelta(days=40 * n))
    assert [r[2] for r in rewards_of(app, user_id=ann)] == [1000, 500]
    assert all(len(rewards_of(app, user_id=f)) == 1 for f in friends)


def test_rejected_rewards_free_their_share_of_the_cap(make_host):
    app, make_user = _build(make_host, REFERRALS_REWARD_RULES=[rule(lifetime_cap=1000)])
    admin, _ = make_user("boss@example.com", "Boss", admin=True)
    ann, code = make_user()
    friends = _friends(make_user, code, 2)
    convert(app, friends[0], "a")
    with app.app_context():
        rewards.decide(reward_ids(app), "reject", actor_id=admin, reason="test order")
    convert(app, friends[1], "b")
    assert [r[4] for r in rewards_of(app)] == [
        RewardStatus.REJECTED,
        RewardStatus.PENDING,
    ]


def test_paid_rewards_clawed_back_by_a_refund_free_their_share_of_the_cap(make_host):
    app, make_user = _build(
        make_host, REFERRALS_REWARD_RULES=[rule(lifetime_cap=1000, hold_days=0)]
    )
    admin, _ = make_user("boss@example.com", "Boss", admin=True)
    _, code = make_user()
    friends = _friends(make_user, code, 2)
    convert(app, friends[0], "a")
    with app.app_context():
        rewards.process_rewards()
        rewards.decide(reward_ids(app), "pay", actor_id=admin, reason="payout")
        conversions.refund_conversion("a")  # paid: clawed back by an adjustment
    convert(app, friends[1], "b")
    assert [(r[1], r[2], r[4]) for r in rewards_of(app)] == [
        ("r", 1000, RewardStatus.PAID),
        (rewards.ADJUSTMENT_RULE, -1000, RewardStatus.APPROVED),
        ("r", 1000, RewardStatus.PENDING),  # the cap had room again
    ]


def test_milestone_bonuses_come_at_exactly_the_fifth_and_tenth(make_host):
    app, make_user = _build(
        make_host,
        REFERRALS_REWARD_RULES=[
            {
                "name": "milestone",
                "trigger": "milestone",
                "milestones": [5, 10],
                "amount": 5000,
            }
        ],
    )
    ann, code = make_user()
    friends = _friends(make_user, code, 11)
    for n, friend in enumerate(friends[:4]):
        convert(app, friend, f"ch_{n}")
    convert(app, friends[0], "again")  # a second conversion is not a new referral
    assert rewards_of(app) == []
    convert(app, friends[4], "ch_4")
    assert rewards_of(app) == [(ann, "milestone", 5000, "USD", RewardStatus.PENDING)]
    for n, friend in enumerate(friends[5:9], start=5):
        convert(app, friend, f"ch_{n}")
    assert len(rewards_of(app)) == 1
    convert(app, friends[9], "ch_9")
    convert(app, friends[10], "ch_10")
    with app.app_context():
        keys = list(
            plugin_session(app).scalars(
                sa.select(Reward.source_key).order_by(Reward.id)
            )
        )
    assert keys == ["milestone:5", "milestone:10"]


def test_process_releases_rewards_only_after_the_hold(app, make_user):
    _, bob = referred_pair(make_user)
    convert(app, bob)  # held 14 days from March 10th, 12:00
    with app.app_context():
        early = rewards.process_rewards(now=MARCH + timedelta(days=13, hours=23))
        assert early == rewards.Processed(approved=0, to_review=0)
        assert reward_ids(app, RewardStatus.PENDING) == reward_ids(app)
        due = rewards.process_rewards(now=MARCH + timedelta(days=14))
        again = rewards.process_rewards(now=MARCH + timedelta(days=15))
    assert due == rewards.Processed(approved=2, to_review=0)
    assert again == rewards.Processed(approved=0, to_review=0)
    assert reward_ids(app, RewardStatus.APPROVED) == reward_ids(app)


def test_process_rewards_command_approves_due_rewards(app, make_user, runner):
    _, bob = referred_pair(make_user)
    convert(app, bob, when=datetime.now(UTC) - timedelta(days=15))
    result = runner.invoke(args=["referrals", "process-rewards"])
    assert result.exit_code == 0, result.output
    assert "approved 2, sent to review 0, rejected 0" in result.output
    assert len(reward_ids(app, RewardStatus.APPROVED)) == 2


def test_rules_that_require_review_go_to_the_queue(make_host):
    app, make_user = _build(
        make_host, REFERRALS_REWARD_RULES=[rule(review=True, hold_days=0)]
    )
    _, bob = referred_pair(make_user)
    convert(app, bob)
    with app.app_context():
        assert rewards.process_rewards() == rewards.Processed(0, 1)
    assert reward_ids(app, RewardStatus.REVIEW) == reward_ids(app)


def test_flagged_referrals_never_auto_approve(app, make_user):
    _, bob = referred_pair(make_user)
    convert(app, bob)
    set_review_status(app, bob, ReviewStatus.FLAGGED)
    with app.app_context():
        result = rewards.process_rewards(now=MARCH + timedelta(days=30))
    assert result == rewards.Processed(approved=0, to_review=2)
    assert len(reward_ids(app, RewardStatus.REVIEW)) == 2


def test_confirmed_abuse_rejects_unpaid_rewards_but_keeps_paid_ones(app, make_user):
    admin, _ = make_user("boss@example.com", "Boss", admin=True)
    ann, bob = referred_pair(make_user)
    convert(app, bob)
    first, second = reward_ids(app)
    with app.app_context():
        rewards.process_rewards(now=MARCH + timedelta(days=14))
        rewards.decide([first], "pay", actor_id=admin)
    referral_id = set_review_status(app, bob, ReviewStatus.CONFIRMED)
    with app.app_context():
        moved = rewards.apply_review_decision(
            referral_id, actor_id=admin, reason="same card as the referrer"
        )
        reasons = list(
            plugin_session(app).scalars(
                sa.select(RewardEvent.reason).where(
                    RewardEvent.to_status == RewardStatus.REJECTED
                )
            )
        )
    assert moved == 1
    assert [r[4] for r in rewards_of(app)] == [RewardStatus.PAID, RewardStatus.REJECTED]
    assert reasons == [rewards.ABUSE_REASON]


def test_process_rejects_held_rewards_of_confirmed_abuse(app, make_user):
    _, bob = referred_pair(make_user)
    convert(app, bob)
    set_review_status(app, bob, ReviewStatus.CONFIRMED)
    with app.app_context():
        result = rewards.process_rewards(now=MARCH + timedelta(days=30))
    assert result == rewards.Processed(approved=0, to_review=0, rejected=2)
    assert len(reward_ids(app, RewardStatus.REJECTED)) == 2


def test_confirmed_abuse_earns_nothing_more(app, make_user):
    _, bob = referred_pair(make_user)
    set_review_status(app, bob, ReviewStatus.CONFIRMED)
    convert(app, bob)
    assert rewards_of(app) == []


def test_flagging_pulls_approved_rewards_back_and_clearing_releases_them(
    app, make_user
):
    _, bob = referred_pair(make_user)
    convert(app, bob)
    later = MARCH + timedelta(days=20)
    with app.app_context():
        rewards.process_rewards(now=later)
    referral_id = set_review_status(app, bob, ReviewStatus.FLAGGED)
    with app.app_context():
        assert rewards.apply_review_decision(referral_id, actor_id=None, reason="") == 2
    assert len(reward_ids(app, RewardStatus.REVIEW)) == 2
    set_review_status(app, bob, ReviewStatus.CLEARED)
    with app.app_context():
        assert (
            rewards.apply_review_decision(referral_id, actor_id=None, reason="ok") == 2
        )
        assert len(reward_ids(app, RewardStatus.PENDING)) == 2
        assert rewards.process_rewards(now=later) == rewards.Processed(2, 0)


def test_refund_before_payment_reverses_and_after_payment_claws_back(app, make_user):
    admin, _ = make_user("boss@example.com", "Boss", admin=True)
    ann, bob = referred_pair(make_user)
    convert(app, bob)
    paid, unpaid = reward_ids(app)
    with app.app_context():
        rewards.process_rewards(now=MARCH + timedelta(days=14))
        rewards.decide([paid], "pay", actor_id=admin)
        conversions.refund_conversion("ch_1")
        conversions.refund_conversion("ch_1")  # a replay changes nothing
        balances = reward_queries.balances(ann)
    assert rewards_of(app) == [
        (ann, "first-conversion", 1000, "USD", RewardStatus.PAID),
        (bob, "first-conversion", 500, "USD", RewardStatus.REVERSED),
        (ann, "adjustment", -1000, "USD", RewardStatus.APPROVED),
    ]
    assert balances == [
        reward_queries.Balance("USD", pending=0, approved=-1000, paid=1000)
    ]


def test_a_refund_keeps_the_referral_converted(app, make_user):
    from referral_site.referrals.storage.models import Referral, ReferralStatus

    _, bob = referred_pair(make_user)
    convert(app, bob)
    with app.app_context():
        conversions.refund_conversion("ch_1")
        assert (
            plugin_session(app).scalar(sa.select(Referral.status))
            == ReferralStatus.CONVERTED
        )


def test_admin_decisions_follow_the_lifecycle(app, make_user):
    admin, _ = make_user("boss@example.com", "Boss", admin=True)
    _, bob = referred_pair(make_user)
    now = datetime.now(UTC)
    convert(app, bob, when=now)
    first, second = reward_ids(app)
    with app.app_context():
        held = rewards.decide([first], "approve", actor_id=admin)
        assert held.changed == [] and "on hold until" in held.problems[0]
        unpaid = rewards.decide([first], "pay", actor_id=admin)
        assert "cannot become paid" in unpaid.problems[0]
        with pytest.raises(rewards.RewardError, match="reason"):
            rewards.decide([first], "reject", actor_id=admin, reason="  ")
        rewards.process_rewards(now=now + timedelta(days=14))
        done = rewards.decide([first, second], "pay", actor_id=admin)
        assert done.changed == [first, second]
        late = rewards.decide([first], "reject", actor_id=admin, reason="too late")
        assert "is paid" in late.problems[0]


def test_every_change_is_in_the_history_with_who_and_why(app, make_user):
    admin, _ = make_user("boss@example.com", "Boss", admin=True)
    _, bob = referred_pair(make_user)
    convert(app, bob)
    first = reward_ids(app)[0]
    with app.app_context():
        rewards.process_rewards(now=MARCH + timedelta(days=14))
        rewards.decide([first], "reject", actor_id=admin, reason="duplicate account")
        history = (
            plugin_session(app)
            .execute(
                sa.select(
                    RewardEvent.from_status,
                    RewardEvent.to_status,
                    RewardEvent.actor_id,
                    RewardEvent.reason,
                )
                .where(RewardEvent.reward_id == first)
                .order_by(RewardEvent.id)
            )
            .all()
        )
        event = plugin_session(app).scalars(sa.select(RewardEvent)).first()
        event.reason = "rewritten"
        with pytest.raises(RuntimeError, match="append-only"):
            plugin_session(app).flush()
        plugin_session(app).rollback()
    assert [tuple(row) for row in history] == [
        (None, RewardStatus.PENDING, None, "granted by rule first-conversion"),
        (RewardStatus.PENDING, RewardStatus.APPROVED, None, "hold over"),
        (RewardStatus.APPROVED, RewardStatus.REJECTED, admin, "duplicate account"),
    ]


def test_the_database_refuses_a_second_grant_of_a_rule(app, make_user):
    _, bob = referred_pair(make_user)
    convert(app, bob)
    with app.app_context():
        existing = plugin_session(app).scalars(sa.select(Reward)).first()
        copy = Reward(
            user_id=existing.user_id,
            referral_id=existing.referral_id,
            kind=existing.kind,
            amount_minor=existing.amount_minor,
            currency=existing.currency,
            rule=existing.rule,
            source_key=existing.source_key,
        )
        with pytest.raises(sa.exc.IntegrityError):
            with write_transaction() as session:
                session.add(copy)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("{broken", "not JSON"),
        ({"name": "x"}, "list of rules"),
        ([rule(trigger="sometimes")], "trigger"),
        ([rule(recipient="everyone")], "recipient"),
        ([rule(kind="gold")], "kind"),
        ([rule(amount=-5)], "amount"),
        ([rule(amount=10.5)], "amount"),
        ([rule(percent=10)], "exactly one"),
        ([rule(amount=None, percent=150)], "percent"),
        ([rule(currency="XYZ")], "currency"),
        ([rule(monthly_cap=0)], "monthly_cap"),
        ([rule(hold_days=-1)], "hold_days"),
        ([rule(trigger="milestone")], "milestones"),
        ([rule(trigger="signup", amount=None, percent=5)], "percent"),
        ([rule(), rule()], "unique"),
        ([rule(colour="red")], "unknown field"),
        ([rule(name="adjustment")], "name"),
    ],
)
def test_invalid_rules_stop_the_app_at_startup(make_app, rules, message):
    with pytest.raises(RuleConfigError, match=message):
        make_app(REFERRALS_REWARD_RULES=rules)


def test_rules_can_come_from_json_in_the_environment(monkeypatch, make_app):
    monkeypatch.setenv(
        "REFERRALS_REWARD_RULES",
        '[{"name": "cash", "trigger": "every_conversion", "percent": "2.5",'
        ' "kind": "cash"}]',
    )
    app = make_app()
    with app.app_context():
        (only,) = rewards.active_rules()
    assert (only.name, str(only.referrer_value.percent)) == ("cash", "2.5")


def test_rewards_created_by_hand_wait_for_an_admin(app, make_user):
    from referral_site.referrals.storage.models import RewardKind

    ann, _ = make_user()
    with app.app_context(), write_transaction() as session:
        for amount in (100, 200):
            session.add(
                Reward(
                    user_id=ann,
                    kind=RewardKind.COUPON,
                    amount_minor=amount,
                    currency="EUR",
                )
            )
    with app.app_context():
        assert rewards.process_rewards() == rewards.Processed(0, 2)
    assert [r[1] for r in rewards_of(app)] == ["manual", "manual"]
