"""Store credit: rewards the host applies in its own shop instead of a payout.

A person's credit is their approved rewards of a credit kind (and of every kind when
their payout details say "store credit only"), less what the host used. The host
records each use once under its own reference (an order number): the same
reference again is a replay, answered the same way. Uses settle the oldest rewards
they cover, which become paid through the reward lifecycle.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from referral_site.referrals.input_checks import has_control_characters
from referral_site.referrals.payouts.due import _waiting, in_open_payout
from referral_site.referrals.payouts.models import (
    PayoutAccount,
    PayoutMethod,
    StoreCreditReward,
    StoreCreditUse,
)
from referral_site.referrals.payouts.settings import CREDIT_KINDS, PAYOUT_KINDS
from referral_site.referrals.rewards.currencies import is_currency
from referral_site.referrals.rewards.lifecycle import Notices, lock_user, move
from referral_site.referrals.storage.db import db, user_pk_value
from referral_site.referrals.storage.models import Reward, RewardStatus
from referral_site.referrals.storage.transactions import write_transaction

#: The largest single use, in minor units (a typo guard, as for adjustments).
MAX_USE = 1_000_000_000


class CreditError(Exception):
    """A use of store credit was refused; the message is safe to show."""


class InsufficientCredit(CreditError):
    """The use is larger than the credit available in its currency."""


class CreditConflict(CreditError):
    """The reference was already used with another user, amount or currency."""


@dataclass(frozen=True)
class CreditUse:
    """A recorded use: ``created`` False for a replay of the same reference."""

    id: int
    reference: str
    user_id: object
    amount_minor: int
    currency: str
    created: bool


def _user_id(user):
    return user if not hasattr(user, "__table__") else user_pk_value(user)


def _credit_rewards(user_id, method: PayoutMethod | None):
    """SQL: the person's approved rewards that are store credit."""
    store_credit_only = method == PayoutMethod.STORE_CREDIT
    kinds = CREDIT_KINDS + (PAYOUT_KINDS if store_credit_only else ())
    return sa.select(Reward.id, Reward.currency, Reward.amount_minor).where(
        Reward.user_id == user_id,
        Reward.status == RewardStatus.APPROVED,
        Reward.kind.in_(kinds),
        ~in_open_payout(),
        ~_waiting(),
    )


def _method(session, user_id) -> PayoutMethod | None:
    return session.scalar(
        sa.select(PayoutAccount.method).where(PayoutAccount.user_id == user_id)
    )


def _available(session, user_id, method: PayoutMethod | None) -> dict[str, int]:
    """Unsettled credit rewards, plus what settled rewards gave, less the uses:
    one query, summed per currency."""
    unsettled = _credit_rewards(user_id, method).with_only_columns(
        Reward.currency, Reward.amount_minor.label("amount")
    )
    settled = (
        sa.select(Reward.currency, Reward.amount_minor.label("amount"))
        .join(StoreCreditReward, StoreCreditReward.reward_id == Reward.id)
        .where(Reward.user_id == user_id)
    )
    used = sa.select(
        StoreCreditUse.currency, (-StoreCreditUse.amount_minor).label("amount")
    ).where(StoreCreditUse.user_id == user_id)
    moves = sa.union_all(unsettled, settled, used).subquery()
    rows = session.execute(
        sa.select(moves.c.currency, sa.func.sum(moves.c.amount))
        .group_by(moves.c.currency)
        .order_by(moves.c.currency)
    )
    return {currency: int(amount) for currency, amount in rows}


def store_credit(user, **known) -> dict[str, int]:
    """A user's (or user id's) store credit per currency, in minor units.

    Negative when clawbacks took back more than is left: the host should not
    apply any then. ``method=``: their payout method, when the caller read it.
    """
    user_id = _user_id(user)
    method = known["method"] if "method" in known else _method(db.session, user_id)
    return _available(db.session, user_id, method)


def _checked(amount_minor, currency, reference) -> tuple[int, str, str]:
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise CreditError("The amount is a whole number of minor units.")
    if not 0 < amount_minor <= MAX_USE:
        raise CreditError("The amount must be above 0 and at most 10^9.")
    if not is_currency(currency):
        raise CreditError("The currency must be an ISO 4217 code such as USD.")
    reference = reference.strip() if isinstance(reference, str) else ""
    if not reference or len(reference) > 128 or has_control_characters(reference):
        raise CreditError("The reference is 1 to 128 characters on one line.")
    return amount_minor, currency, reference


def use_store_credit(user, amount_minor: int, currency: str, reference: str):
    """Record that the host applied store credit; returns a :class:`CreditUse`.

    Idempotent on ``reference``: the same use again returns the first one
    (``created`` False); the reference with other details is a CreditConflict.
    More than is available is InsufficientCredit, and nothing is written.
    """
    user_id = _user_id(user)
    amount_minor, currency, reference = _checked(amount_minor, currency, reference)
    notices = Notices()
    try:
        with write_transaction() as session:
            lock_user(session, user_id)  # one use of a person's credit at a time
            replay = _replay(session, user_id, amount_minor, currency, reference)
            if replay is not None:
                return replay
            method = _method(session, user_id)
            if _available(session, user_id, method).get(currency, 0) < amount_minor:
                raise InsufficientCredit("Not enough store credit for this use.")
            use = StoreCreditUse(
                reference=reference,
                user_id=user_id,
                amount_minor=amount_minor,
                currency=currency,
            )
            session.add(use)
            session.flush()
            _settle(session, user_id, method, use, notices)
            result = CreditUse(use.id, reference, user_id, amount_minor, currency, True)
    except IntegrityError:
        # The same reference recorded by a racing request: answer as a replay.
        with write_transaction() as session:
            replay = _replay(session, user_id, amount_minor, currency, reference)
        if replay is None:
            raise
        return replay
    notices.send()
    return result


def _replay(session, user_id, amount_minor, currency, reference) -> CreditUse | None:
    use = session.scalar(
        sa.select(StoreCreditUse).where(StoreCreditUse.reference == reference)
    )
    if use is None:
        return None
    if (use.user_id, use.amount_minor, use.currency) != (
        user_id,
        amount_minor,
        currency,
    ):
        raise CreditConflict("This reference was used with other details.")
    return CreditUse(use.id, reference, user_id, amount_minor, currency, False)


def _settle(session, user_id, method, use, notices) -> None:
    """Mark paid the oldest credit rewards the uses so far cover in full."""
    used = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(StoreCreditUse.amount_minor), 0)).where(
            StoreCreditUse.user_id == user_id,
            StoreCreditUse.currency == use.currency,
        )
    )
    settled = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Reward.amount_minor), 0))
        .join(StoreCreditReward, StoreCreditReward.reward_id == Reward.id)
        .where(Reward.user_id == user_id, Reward.currency == use.currency)
    )
    covered = int(used) - int(settled)
    rows = session.execute(
        _credit_rewards(user_id, method)
        .where(Reward.currency == use.currency)
        .order_by(Reward.amount_minor >= 0, Reward.id)
    ).all()
    for row in rows:
        if row.amount_minor > covered:
            break
        problem = move(
            session,
            row.id,
            RewardStatus.PAID,
            allowed=(RewardStatus.APPROVED,),
            actor_id=None,
            reason=f"store credit used ({use.reference})",
            notices=notices,
        )
        if problem:
            raise CreditError(problem)
        session.add(StoreCreditReward(reward_id=row.id, use_id=use.id))
        covered -= row.amount_minor
