"""Referral accounts: each user's code and referrer, beside the host's user row.

The plugin's signup creates the account with the user; a user the host created
alone gets one the first time the plugin needs it (their page, their link), or
from ``flask referrals backfill``.
"""

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from referral_site.referrals.attribution.codes import generate_code
from referral_site.referrals.storage.db import db, user_pk
from referral_site.referrals.storage.models import ReferralAccount
from referral_site.referrals.storage.transactions import write_transaction

#: Attempts at a fresh random code before giving up (a clash is ~1 in 10^11).
CODE_ATTEMPTS = 5


class AccountClash(Exception):
    """A new account's row was refused by a unique constraint (code or user)."""


def add_account(session: Session, user_id, referred_by_id=None) -> ReferralAccount:
    """Insert a user's account with a newly drawn code, in the caller's transaction.

    Raises AccountClash when a unique constraint refuses the row; the caller
    retries its whole transaction (no savepoint: clashes are rare and a savepoint
    would cost every signup two statements).
    """
    account = ReferralAccount(
        user_id=user_id, code=generate_code(), referred_by_id=referred_by_id
    )
    session.add(account)
    try:
        session.flush()
    except IntegrityError as error:
        raise AccountClash from error
    return account


def account_of(user_id) -> ReferralAccount | None:
    """The user's account, if they have one."""
    return db.session.get(ReferralAccount, user_id)


def ensure_account(user_id) -> ReferralAccount:
    """The user's account, created now if they have none (safe under concurrency).

    Two requests creating it at once both insert; the loser's row is refused by
    the primary key and it reads the winner's.
    """
    account = account_of(user_id)
    if account is not None:
        return account
    for _ in range(CODE_ATTEMPTS):
        try:
            with write_transaction(keep_loaded=True) as session:
                return add_account(session, user_id)
        except AccountClash:
            if (account := account_of(user_id)) is not None:
                return account
    raise RuntimeError("could not draw a unique referral code")


def code_of(user_id) -> str:
    """The user's current code (their account is created if need be)."""
    return ensure_account(user_id).code


def _without_account(user_model: type) -> sa.Select:
    user_id = user_pk(user_model)
    # A user's own creation time, where the host keeps one, dates their joining.
    joined = getattr(user_model, "created_at", None)
    return (
        sa.select(user_id, joined if joined is not None else sa.null())
        .outerjoin(ReferralAccount, ReferralAccount.user_id == user_id)
        .where(ReferralAccount.user_id.is_(None))
        .order_by(user_id)
    )


def count_without_account(user_model: type) -> int:
    """How many of the host's users have no referral account yet."""
    missing = _without_account(user_model).subquery()
    return db.session.scalar(sa.select(sa.func.count()).select_from(missing))


def backfill_batch(user_model: type, batch_size: int) -> int:
    """Create the accounts of up to batch_size users who have none; how many made.

    One transaction per batch; a drawn code that clashes retries the batch, and a
    user given an account meanwhile (by their own first visit) is simply skipped
    on the retry.
    """
    for _ in range(CODE_ATTEMPTS):
        try:
            with write_transaction() as session:
                rows = session.execute(_without_account(user_model).limit(batch_size))
                made = 0
                for user_id, joined in rows.all():
                    account = ReferralAccount(user_id=user_id, code=generate_code())
                    if joined is not None:
                        account.created_at = joined
                    session.add(account)
                    made += 1
                session.flush()
            return made
        except IntegrityError:
            continue
    raise RuntimeError("could not draw unique referral codes for a batch")
