"""Seeded referrals for seed-demo: referrers, referred users, conversions, rewards."""

from collections import Counter
from datetime import datetime, timedelta

from referral_site.referrals.demo_plan import Seeder, batches, demo_code
from referral_site.referrals.fraud.models import (
    FlagAction,
    FraudSignal,
    ReferralCode,
    ReferralFlagEvent,
    ReferralSignalRecord,
    SignalStage,
)
from referral_site.referrals.payouts.models import PayoutAccount, PayoutMethod
from referral_site.referrals.reports import rollups
from referral_site.referrals.rewards import totals as reward_totals
from referral_site.referrals.storage import bulk, totals
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import (
    CaptureSource,
    Conversion,
    Referral,
    ReferralAccount,
    ReferralStatus,
    ReviewStatus,
    Reward,
    RewardEvent,
    RewardKind,
    RewardStatus,
)

#: Rewards of seeded conversions land in these statuses, with these weights.
REWARD_STATUS_WEIGHTS = {
    RewardStatus.PENDING: 30,
    RewardStatus.REVIEW: 5,
    RewardStatus.APPROVED: 25,
    RewardStatus.PAID: 30,
    RewardStatus.REJECTED: 5,
    RewardStatus.REVERSED: 5,
}


def _insert(rows_by_table: dict) -> None:
    """One transaction: each table's rows in one bulk insert, in the given order,
    and the rows counted as the mapper events would have counted them."""
    with db.engine.begin() as connection:
        for table, rows in rows_by_table.items():
            if rows:
                bulk.insert_rows(connection, table, rows)
        _count(connection, rows_by_table)


def _count(connection, rows_by_table: dict) -> None:
    """Count inserted users, referrals and rewards (written at the commit)."""
    accounts = rows_by_table.get(ReferralAccount.__table__, [])
    new_users = Counter(rollups.utc_day(row["created_at"]) for row in accounts)
    totals.pending(connection).add_users(new_users)
    referrals = rows_by_table.get(Referral.__table__, [])
    rollups.add(connection, "signups", rollups.count_by_day(referrals))
    rollups.add(
        connection,
        "conversions",
        rollups.count_by_day(referrals, "converted_at"),
    )
    reward_totals.add_rows(connection, rows_by_table.get(Reward.__table__, []))


def seed_referrers(seeder: Seeder) -> None:
    """Referrers: their users, accounts and codes, batch by batch."""
    plan = seeder.plan
    count = seeder.first_referred - seeder.first_user
    for batch in batches(count, plan.batch):
        rows = {
            seeder.users: [],
            ReferralAccount.__table__: [],
            ReferralCode.__table__: [],
            PayoutAccount.__table__: [],
        }
        for offset in batch:
            user_id = seeder.first_user + offset
            seeder.account_rows(rows, user_id, seeder.moment(), None)
            # Referrers are paid by PayPal, so /admin/payouts has batches to make.
            rows[PayoutAccount.__table__].append(
                {
                    "user_id": user_id,
                    "method": PayoutMethod.PAYPAL.value,
                    "paypal_email": f"paypal{user_id}@example.com",
                    "updated_at": seeder.now,
                }
            )
        _insert(rows)
        seeder.progress(len(batch))


def seed_referred(seeder: Seeder) -> None:
    """Referred users with their referral, conversion and rewards, batch by batch."""
    tables: dict = {
        seeder.users: [],
        ReferralAccount.__table__: [],
        ReferralCode.__table__: [],
        Referral.__table__: [],
        ReferralSignalRecord.__table__: [],
        ReferralFlagEvent.__table__: [],
        Conversion.__table__: [],
        Reward.__table__: [],
        RewardEvent.__table__: [],
    }
    for batch in batches(seeder.plan.referrals, seeder.plan.batch):
        rows = {table: [] for table in tables}
        for index in batch:
            _referred_user(seeder, index, rows)
        _insert(rows)
        seeder.progress(len(batch))


def _referred_user(seeder: Seeder, index: int, rows: dict) -> None:
    user_id = seeder.first_referred + index
    referral_id = seeder.first_referral + index
    referrer_id = seeder.referrer_of(index)
    created_at = seeder.moment()
    seeder.account_rows(rows, user_id, created_at, referrer_id)
    converted_at = _conversion_time(seeder, index, created_at)
    rows[Referral.__table__].append(
        {
            "id": referral_id,
            "referrer_id": referrer_id,
            "referred_id": user_id,
            "code": demo_code(referrer_id),
            "source": seeder.rng.choice(list(CaptureSource)),
            "captured_at": created_at - timedelta(minutes=5),
            "status": ReferralStatus.CONVERTED if converted_at else "signed_up",
            "converted_at": converted_at,
            "review_status": ReviewStatus.CLEAR,
            "created_at": created_at,
        }
    )
    if seeder.rng.random() < 0.01:
        _flag(seeder, rows, referral_id, created_at)
    if converted_at is not None:
        ids = (seeder.first_conversion + index, seeder.first_reward + 2 * index)
        people = (referrer_id, user_id)
        _conversion(seeder, ids, referral_id, people, converted_at, rows)


#: The signals a flagged demo referral carries, with the explanation stored.
DEMO_SIGNALS = {
    FraudSignal.SAME_IP: "Signed up from the referrer's network (same IP hash).",
    FraudSignal.SAME_DEVICE: "The referrer's browser was used for this signup.",
    FraudSignal.IP_VELOCITY: "4 referred signups from one IP within 60 minutes.",
    FraudSignal.DISPOSABLE_EMAIL: "The address is at a disposable-mail domain.",
}


def _flag(seeder: Seeder, rows: dict, referral_id: int, created_at) -> None:
    """Flag a demo referral as the signup checks do: its signals and their history."""
    rows[Referral.__table__][-1]["review_status"] = ReviewStatus.FLAGGED
    signal = list(DEMO_SIGNALS)[referral_id % len(DEMO_SIGNALS)]  # rng left alone
    rows[ReferralSignalRecord.__table__].append(
        {
            "referral_id": referral_id,
            "name": signal,
            "stage": SignalStage.SIGNUP,
            "detail": DEMO_SIGNALS[signal],
            "created_at": created_at,
        }
    )
    rows[ReferralFlagEvent.__table__].append(
        {
            "referral_id": referral_id,
            "action": FlagAction.FLAGGED,
            "actor_id": None,
            "reason": f"Signals at signup: {signal.value}",
            "created_at": created_at,
        }
    )


def _conversion_time(
    seeder: Seeder, index: int, created_at: datetime
) -> datetime | None:
    """Exactly plan.conversions of the referrals convert, spread evenly at random.

    Selection sampling: referral `index` converts with probability (conversions
    still to place) / (referrals left), which places every one of them.
    """
    left = seeder.plan.referrals - index
    if seeder.rng.random() * left >= seeder.conversions_left:
        return None
    seeder.conversions_left -= 1
    return seeder.moment(after=created_at)


def _conversion(seeder, ids, referral_id, people, occurred_at, rows) -> None:
    """A purchase and its two rewards (referrer and referred), with their events."""
    conversion_id, first_reward_id = ids
    referrer_id, user_id = people
    amount = seeder.rng.choice([1999, 4999, 9900, 19900])
    rows[Conversion.__table__].append(
        {
            "id": conversion_id,
            "external_id": f"seed-{conversion_id}",
            "user_id": user_id,
            "referral_id": referral_id,
            "kind": "purchase",
            "amount_minor": amount,
            "currency": "USD",
            "occurred_at": occurred_at,
            "created_at": occurred_at,
        }
    )
    for offset, (recipient, reward_amount) in enumerate(
        ((referrer_id, 1000), (user_id, 500))
    ):
        status = seeder.rng.choices(
            list(REWARD_STATUS_WEIGHTS), weights=REWARD_STATUS_WEIGHTS.values()
        )[0]
        reward_id = first_reward_id + offset
        rows[Reward.__table__].append(
            {
                "id": reward_id,
                "user_id": recipient,
                "referral_id": referral_id,
                # The referrer's reward is cash (paid out), the friend's store credit.
                "kind": RewardKind.CASH if offset == 0 else RewardKind.CREDIT,
                "amount_minor": reward_amount,
                "currency": "USD",
                "status": status,
                "created_at": occurred_at,
                "rule": "first-conversion",
                "source_key": f"referral:{referral_id}",
                "conversion_id": conversion_id,
                "earned_at": occurred_at,
                "hold_until": occurred_at + timedelta(days=14),
            }
        )
        rows[RewardEvent.__table__].append(
            {
                "reward_id": reward_id,
                "from_status": None,
                "to_status": status,
                "amount_minor": reward_amount,
                "currency": "USD",
                "reason": "demo data",
                "created_at": occurred_at,
            }
        )
