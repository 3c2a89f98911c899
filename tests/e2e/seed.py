"""Demo data for the browser tests: referrers, clicks, signups, conversions, rewards.

Rows are inserted directly (conversions and rewards as their columns describe them),
spread over the last 60 days so that every date-range preset shows different figures.
"""

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from referral_site import create_app
from referral_site.extensions import db
from referral_site.referrals.account import service as account
from referral_site.referrals.attribution import services
from referral_site.referrals.attribution.accounts import account_of
from referral_site.referrals.fraud.models import (
    FraudSignal,
    ReferralSignalRecord,
    SignalStage,
)
from referral_site.referrals.outbox import dispatch
from referral_site.referrals.payouts.models import (
    PayoutAccount,
    PayoutMethod,
    PendingPayoutDetails,
)
from referral_site.referrals.storage.models import (
    CaptureSource,
    Referral,
    ReferralStatus,
    ReviewStatus,
    Reward,
    RewardKind,
    RewardStatus,
    Visit,
)
from referral_site.referrals.storage.transactions import write_transaction
from referral_site.referrals.webhooks import delivery
from referral_site.referrals.webhooks.endpoints import EndpointFields, create_endpoint
from tests import stripe_events

PASSWORD = "correct horse battery"

#: (name, email, referred signups, clicks per signup) of the seeded referrers.
REFERRERS = [
    ("Ann Rivera", "ann@example.com", 9, 4),
    ("Bilal Chaudhry", "bilal@example.com", 7, 3),
    ("Chloé Martin", "chloe@example.com", 5, 5),
    ("Dmitri Volkov", "dmitri@example.com", 4, 3),
    ("Esi Mensah", "esi@example.com", 3, 6),
    ("Farah Haddad", "farah@example.com", 2, 4),
    ("Gus Lindqvist", "gus@example.com", 1, 8),
]
SURNAMES = [
    "Okafor", "Tanaka", "Silva", "Novak", "Berg", "Costa", "Ibrahim", "Kowalski",
    "Nguyen", "Patel", "Schmidt", "Dubois", "Rossi", "Hughes", "Moreau", "Larsen",
    "Khan", "Alvarez", "Brennan", "Sato", "Fischer",
]  # fmt: skip
FIRST_NAMES = [
    "Hana", "Ivan", "Jade", "Kofi", "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn",
    "Rosa", "Sami", "Tara", "Uma", "Victor", "Wen", "Xavi", "Yara", "Zane", "Aiko",
]  # fmt: skip


@dataclass(frozen=True)
class Seeded:
    """What the tests need to know about the seeded data."""

    admin_email: str
    ann_id: int
    ann_code: str
    #: Ann's first code, which she replaced with a vanity code (it still works).
    ann_old_code: str


def seed(database_url: str, now: datetime | None = None) -> Seeded:
    """Fill an empty, migrated database with a believable referral program."""
    now = now or datetime.now(UTC)
    rng = random.Random(20261124)  # the same data on every run
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "PASSWORD_HASH_TIME_COST": 1,
            "PASSWORD_HASH_MEMORY_KIB": 8,
            "REFERRALS_STRIPE_WEBHOOK_SECRET": stripe_events.SECRET,
            # The seeded endpoint is a closed port on this machine.
            "REFERRALS_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        }
    )
    with app.app_context():
        admin = services.sign_up(
            name="Morgan Admin",
            email="admin@example.com",
            password=PASSWORD,
            capture=None,
        )
        with write_transaction():
            admin.is_admin = True
        ann = ann_friends = None
        people = iter(FIRST_NAMES * 3)
        surnames = iter(SURNAMES * 3)
        for name, email, signups, per_signup in REFERRERS:
            user = services.sign_up(
                name=name, email=email, password=PASSWORD, capture=None
            )
            friends = [
                _sign_up(f"{next(people)} {next(surnames)}") for _ in range(signups)
            ]
            ann, ann_friends = ann or user, ann_friends or friends
            with write_transaction():
                _clicks(user, signups * per_signup, now, rng)
                for friend in friends:
                    _referral(user, friend, now, rng)
        old_code = account_of(ann.id).code
        account.set_vanity_code(ann.id, "ANNRIVERA")
        seeded = Seeded("admin@example.com", ann.id, account_of(ann.id).code, old_code)
        _stripe_events(app, ann_friends[0].id)
        _payout_change_awaiting(ann)
        _failing_webhook_endpoint()
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
    return seeded


def _payout_change_awaiting(user) -> None:
    """Ann is paid by PayPal and asked for another address, not confirmed yet: her
    page shows both, and the button cancelling the change."""
    with write_transaction() as session:
        session.add(
            PayoutAccount(
                user_id=user.id,
                method=PayoutMethod.PAYPAL,
                paypal_email="ann.rivera@paypal.example",
            )
        )
        session.add(
            PendingPayoutDetails(
                user_id=user.id,
                method=PayoutMethod.PAYPAL,
                paypal_email="ann.r@paypal.example",
                sent_to=user.email,
            )
        )


def _clicks(user, count: int, now: datetime, rng: random.Random) -> None:
    code = account_of(user.id).code
    for n in range(count):
        db.session.add(
            Visit(
                code=code,
                referrer_id=user.id,
                visitor_id=f"seed{user.id}v{n}",
                landing_path=f"/r/{code}",
                source=CaptureSource.LINK,
                created_at=now - timedelta(days=rng.randint(0, 59), hours=rng.random()),
            )
        )


def _sign_up(name: str):
    email = name.lower().replace(" ", ".") + "@example.org"
    return services.sign_up(name=name, email=email, password=PASSWORD, capture=None)


def _referral(referrer, user, now: datetime, rng: random.Random) -> None:
    created = now - timedelta(days=rng.randint(0, 55), hours=rng.random())
    converted = rng.random() < 0.45
    referral = Referral(
        referrer_id=referrer.id,
        referred_id=user.id,
        code=account_of(referrer.id).code,
        source=rng.choice(list(CaptureSource)),
        status=ReferralStatus.CONVERTED if converted else ReferralStatus.SIGNED_UP,
        converted_at=created + timedelta(days=rng.randint(0, 4)) if converted else None,
        review_status=ReviewStatus.FLAGGED
        if rng.random() < 0.1
        else ReviewStatus.CLEAR,
        created_at=created,
    )
    if referral.converted_at and referral.converted_at > now:
        referral.converted_at = now
    account_of(user.id).referred_by_id = referrer.id
    db.session.add(referral)
    db.session.flush()
    if referral.review_status == ReviewStatus.FLAGGED:
        # Flagged as the signup checks flag: with the signal that says why.
        db.session.add(
            ReferralSignalRecord(
                referral_id=referral.id,
                name=FraudSignal.SAME_IP,
                stage=SignalStage.SIGNUP,
                detail="Signed up from the referrer's network (same IP hash).",
            )
        )
    if converted:
        currency = "EUR" if referrer.email.startswith(("chloe", "esi")) else "USD"
        db.session.add(
            Reward(
                user_id=referrer.id,
                referral_id=referral.id,
                kind=RewardKind.CREDIT,
                amount_minor=rng.choice([1000, 1500, 2500]),
                currency=currency,
                status=rng.choice(list(RewardStatus)),
                created_at=referral.converted_at,
            )
        )


def _stripe_events(app, customer_id) -> None:
    """Signed Stripe events as Stripe sends them: a payment by a referred friend
    (applied), one by nobody known (unattributed), a refund of an unknown payment
    (waiting for it), so the billing page has every kind of row."""
    client = app.test_client()
    unknown = stripe_events.checkout(None, amount=1900)
    for obj, type_ in (
        (
            stripe_events.checkout(customer_id, amount=4900),
            "checkout.session.completed",
        ),
        (unknown, "checkout.session.completed"),
        (stripe_events.charge("pi_seed_unknown", refunded=500), "charge.refunded"),
    ):
        response = stripe_events.post(client, stripe_events.event(type_, obj))
        assert response.status_code == 200, response.get_data(as_text=True)


def _failing_webhook_endpoint() -> None:
    """An endpoint whose receiver is down: deliveries with failed attempts."""
    create_endpoint(
        EndpointFields(
            url="http://127.0.0.1:9/referral-events",
            description="CRM sync (receiver down)",
            event_types=[],
            enabled=True,
        )
    )
    dispatch.dispatch()
    delivery.deliver_due(batch_size=20)


if __name__ == "__main__":
    import sys

    # python -m tests.e2e.seed sqlite:///instance/demo.db  (after `flask db upgrade`)
    print(seed(sys.argv[1]))
