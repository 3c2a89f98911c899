"""Conversions: outcomes of referred users, recorded once per external id.

``record_conversion`` is what a host app calls (the JSON API calls it too). Storing
the conversion, marking the referral converted and granting its rewards happen in one
transaction; the same external id delivered again answers with what was stored.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from referral_site.referrals import signals
from referral_site.referrals.fraud import review as fraud
from referral_site.referrals.outbox import events as outbox
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.rewards import grants as reward_grants
from referral_site.referrals.rewards.currencies import is_currency
from referral_site.referrals.storage.db import db, user_pk_value
from referral_site.referrals.storage.models import (
    Conversion,
    Referral,
    ReferralStatus,
    Reward,
    RewardStatus,
    utcnow,
)
from referral_site.referrals.storage.transactions import write_transaction
from referral_site.referrals.users import user_sql

#: Largest amount accepted for one conversion, in minor units (10^12 = 10 billion
#: dollars): beyond it a value is a bug in the caller, not a sale.
MAX_AMOUNT = 10**12
#: How far ahead of our clock an occurred_at may be (the sender's clock may run fast).
FUTURE_TOLERANCE = timedelta(hours=1)
#: How far before the signup a conversion's time may be and still count as after it.
CLOCK_SKEW = timedelta(minutes=5)
_KIND = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_EXTERNAL_ID = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces


class ConversionError(Exception):
    """A conversion request was refused; the message is safe to show."""


class InvalidConversion(ConversionError):
    """Fields of a conversion are malformed; ``errors`` maps each field to why."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class UnknownUser(ConversionError):
    """No user matches the given id or email."""


class UnknownConversion(ConversionError):
    """No conversion has this external id."""


class ConversionConflict(ConversionError):
    """The external id is already used by a conversion with different details."""


@dataclass(frozen=True)
class RewardInfo:
    """A reward as a conversion's answer shows it."""

    id: int
    user_id: int
    rule: str
    kind: str
    amount_minor: int
    currency: str
    status: RewardStatus


@dataclass(frozen=True)
class ConversionResult:
    """A stored conversion; ``created`` is False when the call was a replay."""

    id: int
    external_id: str
    user_id: int
    kind: str
    amount_minor: int
    currency: str
    occurred_at: datetime
    refunded_at: datetime | None
    referred: bool
    created: bool
    rewards: tuple[RewardInfo, ...]


def validate(
    *, kind: object, amount: object, currency: object, external_id: object
) -> dict[str, str]:
    """Field errors of a conversion's details (empty when they are fine)."""
    errors = {}
    if not isinstance(kind, str) or not _KIND.match(kind):
        errors["kind"] = (
            "A lower-case word of up to 32 letters, digits, '_' or '-', "
            "such as signup, purchase or subscription."
        )
    if not isinstance(amount, int) or isinstance(amount, bool):
        errors["amount"] = "A whole number of minor units (1999 for 19.99)."
    elif amount < 0:
        errors["amount"] = "Must not be negative; record refunds through the refund."
    elif amount > MAX_AMOUNT:
        errors["amount"] = f"Must be at most {MAX_AMOUNT} minor units."
    if not is_currency(currency):
        errors["currency"] = "An upper-case ISO 4217 code such as USD or EUR."
    if not isinstance(external_id, str) or not _EXTERNAL_ID.match(external_id):
        errors["external_id"] = "1 to 128 printable characters without spaces."
    return errors


def record_conversion(
    user,
    *,
    kind: str,
    amount: int,
    currency: str | None = None,
    external_id: str,
    occurred_at: datetime | None = None,
    before_commit: Callable[[Session, ConversionResult], None] | None = None,
) -> ConversionResult:
    """Record an outcome of ``user`` (a user or their id) and grant its rewards.

    Idempotent on ``external_id``: a second call answers with the stored conversion
    (``created=False``) and grants nothing, even when two calls race.
    ``before_commit(session, result)`` runs in the conversion's transaction, for
    what must commit with it or not at all (an order marked as counted, the Stripe
    event that paid): one transaction instead of two.
    """
    currency = currency or current_app.config["REFERRALS_DEFAULT_CURRENCY"]
    errors = validate(
        kind=kind, amount=amount, currency=currency, external_id=external_id
    )
    if occurred_at is not None and (
        not isinstance(occurred_at, datetime) or occurred_at.tzinfo is None
    ):
        errors["occurred_at"] = "A timezone-aware date and time."
    elif occurred_at is not None and occurred_at > utcnow() + FUTURE_TOLERANCE:
        # A date far ahead would hold its rewards for as long: a clock or a bug.
        errors["occurred_at"] = "Must not be in the future."
    if errors:
        raise InvalidConversion(errors)
    user_id = user if isinstance(user, int | str) else user_pk_value(user)
    notices = rewards.Notices()
    with write_transaction() as session:
        if not _user_exists(session, user_id):
            raise UnknownUser("No user with this id or email.")
        referrer_id, signed_up_at = session.execute(
            sa.select(Referral.referrer_id, Referral.created_at).where(
                Referral.referred_id == user_id
            )
        ).first() or (None, None)
        _check_after_signup(occurred_at, signed_up_at)
        if referrer_id is not None:
            # Serializes this referrer's conversions: caps, milestones and "first"
            # are counted by one transaction at a time.
            rewards.lock_user(session, referrer_id)
        conversion = Conversion(
            external_id=external_id,
            user_id=user_id,
            kind=kind,
            amount_minor=amount,
            currency=currency,
            occurred_at=occurred_at or utcnow(),
        )
        if not _insert(session, conversion):
            replay = _replay(session, external_id, user_id, kind, amount, currency)
        else:
            _convert(session, conversion, user_id, notices)
            outbox.conversion_recorded(session, conversion, referrer_id)
            replay = None
        result = replay or _result(session, conversion.id, created=True)
        if before_commit is not None:
            before_commit(session, result)
    if result.created:
        notices.add(signals.conversion_recorded, conversion=result)
    notices.send()
    return result


def _check_after_signup(occurred_at: datetime | None, signed_up_at) -> None:
    """Refuse an outcome dated before the referred user signed up.

    Its rewards would be held from that earlier date, so their hold could be over
    on arrival and they could be approved at once, before any refund could come.
    A few minutes are allowed for clocks that differ (a billing system's, whose
    times have whole seconds, against the signup's own).
    """
    if occurred_at is not None and signed_up_at is not None:
        if occurred_at < signed_up_at - CLOCK_SKEW:
            raise InvalidConversion(
                {
                    "occurred_at": "Must not be before the user signed up "
                    f"({signed_up_at:%Y-%m-%dT%H:%M:%SZ})."
                }
            )


def _insert(session, conversion: Conversion) -> bool:
    """Insert unless the external id exists; a racing duplicate counts as existing."""
    exists = session.scalar(
        sa.select(sa.exists().where(Conversion.external_id == conversion.external_id))
    )
    if exists:
        return False
    try:
        with session.begin_nested():
            session.add(conversion)
    except IntegrityError:
        # Stored by a racing transaction since the check: the savepoint's rollback
        # has dropped our copy, and the caller answers like a replay.
        return False
    return True


def _replay(session, external_id, user_id, kind, amount, currency):
    stored = session.scalar(
        sa.select(Conversion).where(Conversion.external_id == external_id)
    )
    if (stored.user_id, stored.kind, stored.amount_minor, stored.currency) != (
        user_id,
        kind,
        amount,
        currency,
    ):
        raise ConversionConflict(
            "This external_id was already recorded with other details."
        )
    return _result(session, stored.id, created=False)


def _convert(session, conversion: Conversion, user_id: int, notices) -> None:
    referral = session.scalar(
        sa.select(Referral)
        .where(Referral.referred_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    first = referral is not None and referral.converted_at is None
    if referral is not None:
        conversion.referral_id = referral.id
        # Scored before granting, so a flag found now already holds these rewards.
        fraud.score_conversion(session, referral, notices=notices)
    if first:
        referral.converted_at = conversion.occurred_at
        if referral.status == ReferralStatus.SIGNED_UP:
            referral.status = ReferralStatus.CONVERTED
    session.flush()
    reward_grants.grant_for_conversion(
        session, conversion, referral, first=first, notices=notices
    )


def refund_conversion(
    external_id: str, *, actor_id: int | None = None, reason: str = "refunded"
) -> ConversionResult:
    """Mark a conversion refunded and reverse (or claw back) its rewards, once.

    The referral stays converted: it did convert, and reports count that; the money
    side is undone through the rewards.
    """
    notices = rewards.Notices()
    with write_transaction() as session:
        conversion_id = session.scalar(
            sa.select(Conversion.id).where(Conversion.external_id == external_id)
        )
        if conversion_id is None:
            raise UnknownConversion("No conversion with this external_id.")
        # The conditional UPDATE makes one refund win when several race.
        refunded = session.execute(
            sa.update(Conversion)
            .where(Conversion.id == conversion_id, Conversion.refunded_at.is_(None))
            .values(refunded_at=utcnow(), refunded_minor=Conversion.amount_minor)
            .execution_options(synchronize_session=False)
        ).rowcount
        if refunded:
            rewards.reverse_for_refund(
                session,
                conversion_id,
                actor_id=actor_id,
                reason=f"conversion {external_id} {reason}"[:500],
                notices=notices,
            )
            _score_refund(session, conversion_id, notices)
            _announce_refund(session, conversion_id)
        result = _result(session, conversion_id, created=bool(refunded))
    if refunded:
        notices.add(signals.conversion_refunded, conversion=result)
    notices.send()
    return result


def _announce_refund(session, conversion_id: int) -> None:
    conversion = session.get(Conversion, conversion_id)
    referrer_id = session.scalar(
        sa.select(Referral.referrer_id).where(Referral.id == conversion.referral_id)
    )
    outbox.conversion_refunded(session, conversion, referrer_id)


def _score_refund(session, conversion_id: int, notices) -> None:
    """A refund soon after the purchase is a fraud signal for the referral."""
    referral_id, occurred_at, refunded_at = session.execute(
        sa.select(
            Conversion.referral_id, Conversion.occurred_at, Conversion.refunded_at
        ).where(Conversion.id == conversion_id)
    ).one()
    if referral_id is None:
        return
    referral = session.get(
        Referral, referral_id, with_for_update=True, populate_existing=True
    )
    fraud.score_conversion(
        session, referral, notices=notices, refunded_within=refunded_at - occurred_at
    )


def find_user_id(*, email: str | None = None, user_id: int | None = None) -> int:
    """The id of the user with this id or (case-insensitive) email, or UnknownUser."""
    User = current_app.extensions["referrals"].user_model
    user = user_sql(User)
    if user_id is not None:
        where = user.id == user_id
    else:
        where = user.email == (email or "").strip().lower()
    found = db.session.scalar(sa.select(user.id).where(where))
    if found is None:
        raise UnknownUser("No user with this id or email.")
    return found


def _user_exists(session, user_id: int) -> bool:
    User = current_app.extensions["referrals"].user_model
    return session.scalar(sa.select(sa.exists().where(user_sql(User).id == user_id)))


def _result(session, conversion_id: int, *, created: bool) -> ConversionResult:
    stored = session.get(Conversion, conversion_id, populate_existing=True)
    rows = session.execute(
        sa.select(
            Reward.id,
            Reward.user_id,
            Reward.rule,
            Reward.kind,
            Reward.amount_minor,
            Reward.currency,
            Reward.status,
        )
        .where(
            Reward.conversion_id == conversion_id, Reward.adjusts_reward_id.is_(None)
        )
        .order_by(Reward.id)
    ).all()
    return ConversionResult(
        id=stored.id,
        external_id=stored.external_id,
        user_id=stored.user_id,
        kind=stored.kind,
        amount_minor=stored.amount_minor,
        currency=stored.currency,
        occurred_at=stored.occurred_at,
        refunded_at=stored.refunded_at,
        referred=stored.referral_id is not None,
        created=created,
        rewards=tuple(
            RewardInfo(
                id=r.id,
                user_id=r.user_id,
                rule=r.rule,
                kind=r.kind.value,
                amount_minor=r.amount_minor,
                currency=r.currency,
                status=r.status,
            )
            for r in rows
        ),
    )
