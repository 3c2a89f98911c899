"""Races: replays, double deliveries, parallel process-rewards and deciding admins.

Each race runs many rounds; on PostgreSQL the row locks (FOR UPDATE, SKIP LOCKED) and
unique constraints do the work, on SQLite BEGIN IMMEDIATE serializes the writers.
"""

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.rewards import conversions
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.storage.models import Conversion, RewardEvent, RewardStatus
from tests.conftest import scalar
from tests.reward_helpers import (
    API_KEY,
    conversion_body,
    post_conversion,
    reward_ids,
    rewards_of,
    signing_up_long_ago,
)


@pytest.fixture
def make_user(make_user):
    """Referred users signed up long ago, before the conversions dated back."""
    return signing_up_long_ago(make_user)


ROUNDS = 20
#: Hundreds of posts in seconds from one address: above any sane per-IP limit.
UNLIMITED = "1000000 per minute"
THREADS = 8
PAST = datetime.now(UTC) - timedelta(days=30)


@pytest.fixture
def app(make_app):
    """These tests give one referrer dozens of referrals in seconds: above the
    velocity threshold, which would rightly send every reward to manual review."""
    return make_app(REFERRALS_VELOCITY_MAX_PER_REFERRER=10_000)


def run_at_once(targets) -> list:
    """Start every target at the same moment; return what each returned or raised."""
    results = [None] * len(targets)
    barrier = threading.Barrier(len(targets))

    def wrap(index, target):
        barrier.wait()
        try:
            results[index] = target()
        except Exception as error:  # noqa: BLE001 - returned and asserted on
            results[index] = error

    threads = [
        threading.Thread(target=wrap, args=(n, t)) for n, t in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def in_context(app, function, *args, **kwargs):
    def run():
        with app.app_context():
            return function(*args, **kwargs)

    return run


def test_the_same_conversion_posted_from_many_threads_is_granted_once(
    make_app, make_user
):
    app = make_app(REFERRALS_API_KEY=API_KEY, REFERRALS_RATELIMIT_API=UNLIMITED)
    ann, code = make_user()
    for round_ in range(ROUNDS):
        email = f"friend{round_}@example.com"
        friend, _ = make_user(email, "Friend", code=code)
        body = conversion_body(user_email=email, external_id=f"ch_{round_}")

        def deliver(body=body):
            return post_conversion(app.test_client(), **body)

        responses = run_at_once([deliver] * THREADS)
        codes = Counter(response.status_code for response in responses)
        assert codes == {201: 1, 200: THREADS - 1}, round_
        bodies = {str(response.get_json()) for response in responses}
        assert len(bodies) == 1, round_
        assert [r[:3] for r in rewards_of(app, user_id=friend)] == [
            (friend, "first-conversion", 500)
        ]
    assert scalar(app, sa.select(sa.func.count(Conversion.id))) == ROUNDS
    assert len(rewards_of(app, user_id=ann)) == ROUNDS


def test_a_conversion_of_a_user_nobody_referred_is_stored_once_under_a_race(
    make_app, make_user
):
    # No referrer row to lock here: the unique external_id alone decides.
    app = make_app(REFERRALS_API_KEY=API_KEY, REFERRALS_RATELIMIT_API=UNLIMITED)
    make_user("solo@example.com", "Solo")
    for round_ in range(ROUNDS):
        body = conversion_body(user_email="solo@example.com", external_id=f"s{round_}")

        def deliver(body=body):
            return post_conversion(app.test_client(), **body)

        responses = run_at_once([deliver] * THREADS)
        codes = Counter(response.status_code for response in responses)
        assert codes == {201: 1, 200: THREADS - 1}, round_
    assert scalar(app, sa.select(sa.func.count(Conversion.id))) == ROUNDS


def test_racing_conversions_of_one_referrer_never_exceed_the_cap(make_app, make_user):
    rule = {"name": "r", "trigger": "first_conversion", "amount": 1000}
    app = make_app(REFERRALS_REWARD_RULES=[rule | {"monthly_cap": 2500}])
    for round_ in range(ROUNDS // 2):
        referrer, code = make_user(f"ann{round_}@example.com", "Ann")
        friends = [
            make_user(f"friend{round_}-{n}@example.com", "Friend", code=code)[0]
            for n in range(THREADS)
        ]
        targets = [
            in_context(
                app,
                conversions.record_conversion,
                friend,
                kind="purchase",
                amount=100,
                external_id=f"ch_{friend}",
                occurred_at=PAST,
            )
            for friend in friends
        ]
        results = run_at_once(targets)
        assert not [r for r in results if isinstance(r, Exception)], results
        amounts = sorted(r[2] for r in rewards_of(app, user_id=referrer))
        assert amounts == [500, 1000, 1000], round_


def test_process_rewards_run_twice_at_once_approves_each_reward_once(app, make_user):
    ann, code = make_user()
    for round_ in range(ROUNDS):
        friends = [
            make_user(f"f{round_}-{n}@example.com", "Friend", code=code)[0]
            for n in range(3)
        ]
        with app.app_context():
            for friend in friends:
                conversions.record_conversion(
                    friend,
                    kind="purchase",
                    amount=100,
                    external_id=f"ch_{friend}",
                    occurred_at=PAST,
                )
        runs = run_at_once([in_context(app, rewards.process_rewards, batch_size=1)] * 2)
        assert not [r for r in runs if isinstance(r, Exception)], runs
        assert sum(run.approved for run in runs) == 6, round_
        assert reward_ids(app, RewardStatus.PENDING) == []
    with app.app_context():
        approvals = db.session.execute(
            sa.select(RewardEvent.reward_id, sa.func.count())
            .where(RewardEvent.to_status == RewardStatus.APPROVED)
            .group_by(RewardEvent.reward_id)
        ).all()
    assert len(approvals) == ROUNDS * 6
    assert {count for _, count in approvals} == {1}


def friend_converts_and_is_approved(app, make_user, code, round_) -> None:
    """A new friend of the code's owner buys (as ch_<round>), past the hold."""
    friend, _ = make_user(f"friend{round_}@example.com", "Friend", code=code)
    with app.app_context():
        conversions.record_conversion(
            friend,
            kind="purchase",
            amount=100,
            external_id=f"ch_{round_}",
            occurred_at=PAST,
        )
        rewards.process_rewards()


def test_two_admins_deciding_at_once_make_one_decision(app, make_user):
    admin, _ = make_user("boss@example.com", "Boss", admin=True)
    other, _ = make_user("deputy@example.com", "Deputy", admin=True)
    ann, code = make_user()
    for round_ in range(ROUNDS):
        friend_converts_and_is_approved(app, make_user, code, round_)
        reward_id = reward_ids(app, RewardStatus.APPROVED)[0]
        decisions = run_at_once(
            [
                in_context(app, rewards.decide, [reward_id], "pay", actor_id=admin),
                in_context(
                    app,
                    rewards.decide,
                    [reward_id],
                    "reject",
                    actor_id=other,
                    reason="duplicate",
                ),
            ]
        )
        assert sorted(len(d.changed) for d in decisions) == [0, 1], round_
        loser = next(d for d in decisions if not d.changed)
        assert f"Reward #{reward_id}" in loser.problems[0]
        with app.app_context():
            decided = db.session.scalar(
                sa.select(sa.func.count()).where(
                    RewardEvent.reward_id == reward_id,
                    RewardEvent.from_status == RewardStatus.APPROVED,
                )
            )
        assert decided == 1, round_
        with app.app_context():
            rewards.decide(
                reward_ids(app, RewardStatus.APPROVED), "pay", actor_id=admin
            )


def test_a_refund_racing_a_payment_either_reverses_or_claws_back(app, make_user):
    admin, _ = make_user("boss@example.com", "Boss", admin=True)
    ann, code = make_user()
    for round_ in range(ROUNDS):
        friend_converts_and_is_approved(app, make_user, code, round_)
        reward_id = rewards_of_round(app, f"ch_{round_}", ann)
        results = run_at_once(
            [
                in_context(app, rewards.decide, [reward_id], "pay", actor_id=admin),
                in_context(app, conversions.refund_conversion, f"ch_{round_}"),
            ]
        )
        assert not [r for r in results if isinstance(r, Exception)], results
        with app.app_context():
            statuses = db.session.execute(
                sa.text(
                    "SELECT status, amount_minor FROM rewards"
                    " WHERE id = :id OR adjusts_reward_id = :id ORDER BY id"
                ),
                {"id": reward_id},
            ).all()
        assert [tuple(s) for s in statuses] in (
            [("reversed", 1000)],
            [("paid", 1000), ("approved", -1000)],
        ), round_


def rewards_of_round(app, external_id, user_id) -> int:
    from referral_site.referrals.storage.models import Reward

    with app.app_context():
        return db.session.scalar(
            sa.select(Reward.id)
            .join(Conversion, Conversion.id == Reward.conversion_id)
            .where(Conversion.external_id == external_id, Reward.user_id == user_id)
        )
