"""Referral use cases: one public function is one transaction; no request access."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from referral_site.referrals import signals
from referral_site.referrals.attribution import accounts, liveness
from referral_site.referrals.attribution.codes import normalize_code
from referral_site.referrals.capture import visit_buffer
from referral_site.referrals.capture.visits import hash_ip
from referral_site.referrals.fraud import evidence as fraud_signals
from referral_site.referrals.fraud import review as fraud
from referral_site.referrals.fraud.models import ReferralCode
from referral_site.referrals.outbox import events as outbox
from referral_site.referrals.program import cache as program_cache
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.rewards import grants as reward_grants
from referral_site.referrals.storage.db import db, user_pk_value
from referral_site.referrals.storage.models import (
    CaptureSource,
    Referral,
    ReferralAccount,
)
from referral_site.referrals.storage.transactions import write_transaction
from referral_site.referrals.users import user_sql

#: Prefix of the advisory lock keys that serialize signups from one IP hash.
_IP_LOCK_PREFIX = "referrals-velocity-ip:"


class ReferralError(Exception):
    """A referral rule refused the request; the message is safe to show."""


class EmailTaken(ReferralError):
    """Another account already uses this email address."""


class UnknownCode(ReferralError):
    """No user has this referral code."""


class ReferralLoop(ReferralError):
    """The new account would be referred by someone it referred, directly or not."""


class EmailBlocked(ReferralError):
    """The address or its domain is on the admins' blocklist (fraud/blocklist.py)."""


def refuse_blocked(email: str) -> None:
    """Raise EmailBlocked when an admin blocked this address or its domain."""
    from referral_site.referrals.fraud.blocklist import blocking_entry

    if blocking_entry(email) is not None:
        raise EmailBlocked(
            "Signups from this email address are not accepted. Contact us if you "
            "think this is a mistake."
        )


@dataclass(frozen=True)
class Referrer:
    """The owner of a referral code, as much as capture and signup need to know."""

    id: int
    code: str
    #: Who referred them, if anyone: nobody means no signup can close a loop.
    #: Set when the account is created and never changed, so it can be cached.
    referred_by_id: int | None = None


@dataclass(frozen=True)
class Capture:
    """Evidence that a code reached the visitor: which, how, when, from which visit."""

    code: str
    source: CaptureSource
    captured_at: datetime | None = None
    visit_id: int | None = None


def user_model():
    """The host's user model registered with the extension."""
    return current_app.extensions["referrals"].user_model


def find_referrer(raw_code: object, *, cached: bool = True) -> Referrer | None:
    """Look up the user a code belongs to; None for malformed or unknown codes.

    Any of the user's codes (their primary one or an older alias) leads to them; the
    Referrer carries the primary code, which is what gets recorded. Clicks may take
    the answer from this worker's cache (``cached``), which another worker's
    change of a code or forgetting of a user leaves stale until it expires;
    signups ask the database.
    """
    code = normalize_code(raw_code)
    if code is None:
        return None
    cache = current_app.extensions["referrals"].code_cache
    if cached and (hit := cache.get(code)) is not None:
        return hit
    row = db.session.execute(_FIND_REFERRER, {"code": code}).first()
    if row is None:
        return None
    referrer = Referrer(*row)
    cache.put(code, referrer.id, referrer)
    return referrer


#: Built once: every click that misses the code cache runs it.
_FIND_REFERRER = (
    sa.select(
        ReferralAccount.user_id, ReferralAccount.code, ReferralAccount.referred_by_id
    )
    .join(ReferralCode, ReferralCode.user_id == ReferralAccount.user_id)
    .where(
        ReferralCode.code == sa.bindparam("code"),
        ReferralAccount.deleted_at.is_(None),
        ReferralAccount.suspended_at.is_(None),
    )
)


def forget_cached_codes(user_id: int) -> None:
    """Stop resolving a user's codes from this process's cache (they changed)."""
    current_app.extensions["referrals"].code_cache.forget_user(user_id)


def normalize_email(email: str) -> str:
    """The form in which emails are stored and compared: trimmed and lower-cased."""
    return email.strip().lower()


def sign_up(
    *,
    name: str,
    email: str,
    password: str,
    capture: Capture | None,
    ip: str | None = None,
    visitor_id: str | None = None,
):
    """Create an account and, when a valid code was captured, its referral.

    Everything happens in one transaction: either the user, their code, their
    referral, its fraud signals and its signup rewards all exist afterwards, or
    nothing does. The IP (stored only as a keyed hash) and the visitor id feed the
    fraud signals.
    """
    User = user_model()
    email = normalize_email(email)
    refuse_blocked(email)
    user = User(name=name.strip(), email=email)
    # Hashed before the transaction: the hash is the slow part of a signup, and on
    # SQLite the write lock is held from the first statement to the commit.
    user.set_password(password)
    # Usually from the code cache; a lookup that misses it holds no write lock.
    referrer = referrer_for(capture)
    if referrer is not None:
        # The program's version check (a query) is asked now, not while the
        # transaction holds the referrer's lock, which queues their other signups.
        program_cache.in_force()
    origin = Origin(capture, hash_ip(ip), visitor_id)
    referral, notices = _create_with_a_free_code(user, referrer, origin)
    app = current_app._get_current_object()
    signals.user_signed_up.send(app, user=user, referral=referral)
    if referral is not None:
        signals.referral_created.send(app, referral=referral)
    notices.send()
    return user


@dataclass(frozen=True)
class Origin:
    """Where a signup came from: the captured code, the IP hash, the visitor id."""

    capture: Capture | None
    ip_hash: str | None
    visitor_id: str | None


class _AccountClash(Exception):
    """The new user's row was refused by a unique constraint: email or code taken."""


def _create_with_a_free_code(user, referrer, origin: Origin):
    """Run the signup's transaction; again, with a new code, if the drawn one clashed.

    Returns the referral (or None) and the notices to send now that it committed.
    """
    for _ in range(accounts.CODE_ATTEMPTS):
        notices = rewards.Notices()
        try:
            # Kept loaded: signing the new user in reads them right after.
            with write_transaction(keep_loaded=True) as session:
                referral = _create_account(session, user, referrer, origin, notices)
            return referral, notices
        except _AccountClash:
            # The email's unique constraint is the check that it is free: asking
            # first would cost every signup a query, and a racing signup could still
            # take the email between the question and the insert.
            if _email_exists(user.email):
                raise EmailTaken("An account with this email already exists.") from None
    raise RuntimeError("could not draw a unique referral code")


def _create_account(
    session, user, referrer: Referrer | None, origin: Origin, notices
) -> Referral | None:
    """The signup's transaction: the user, checks, the referral, signals, rewards."""
    if referrer is not None:
        lock_live_referrer(session, referrer, origin.ip_hash)
    # First: a taken email is refused before the rest.
    _insert_user(session, user, referrer.id if referrer is not None else None)
    if referrer is None:
        outbox.user_signed_up(session, user_pk_value(user), None)
        return None
    refuse_loop(referrer, user.email)
    return write_referral(
        session, user_pk_value(user), user.email, referrer, origin, notices
    )


def lock_live_referrer(session, referrer: Referrer, ip_hash: str | None) -> None:
    """Lock the referrer's account for this signup; UnknownCode if the code no
    longer leads to a live account.

    The lookup may be a moment old (or cached): with the account locked, the code
    must still lead to a live referrer, and forgetting, suspending or changing
    codes waits for the commit. The lock also queues signups for one referrer, so
    racing signups count each other in the velocity signals (read-committed reads
    would otherwise miss referrals not yet committed, and undercount). Nothing
    references the account row by foreign key, so no insert waits on it. The IP
    has no row: on PostgreSQL a transaction-scoped advisory lock on its hash
    stands for it, taken in the same statement (one round trip; the select list
    is computed before the row is locked, so every signup takes the IP's lock
    first, then the referrer's). SQLite's BEGIN IMMEDIATE already serializes
    writers.
    """
    also = []
    if ip_hash and session.get_bind().dialect.name == "postgresql":
        key = sa.func.hashtextextended(_IP_LOCK_PREFIX + ip_hash, 0)
        also.append(sa.func.pg_advisory_xact_lock(key))
    if not liveness.lock_live_account(session, referrer.id, referrer.code, also=also):
        raise UnknownCode("That referral code does not exist.")


def refuse_loop(referrer: Referrer, email: str) -> None:
    """ReferralLoop if this address is someone up the referrer's chain."""
    if _may_loop(referrer) and fraud_signals.would_loop(referrer.id, email):
        raise ReferralLoop(
            "This code belongs to someone you referred, directly or through "
            "others, so it cannot be used for your account."
        )


def write_referral(
    session, user_id, email: str, referrer: Referrer, origin: "Origin", notices
) -> Referral:
    """A new user's referral with its fraud signals, signup rewards and events
    (after lock_live_referrer in the same transaction)."""
    # Read before the referral is written: the velocity counts add it themselves.
    found = fraud_signals.signup_signals(
        referrer.id,
        referred_email=email,
        ip_hash=origin.ip_hash,
        visitor_id=origin.visitor_id,
    )
    referral = _referral(user_id, referrer, origin)
    session.add(referral)
    flagged = fraud.flag_new_referral(session, referral, found, notices)
    # In the order they happened: the signup, its referral, its flag, its rewards.
    outbox.user_signed_up(session, user_id, referral.id)
    outbox.referral_created(session, referral)
    if flagged:
        outbox.referral_flagged(session, referral, flagged)
    reward_grants.grant_for_signup(session, referral, notices=notices)
    return referral


def _may_loop(referrer: Referrer | None) -> bool:
    # A loop goes through the referrer's own referrer: without one, no query.
    return referrer is not None and referrer.referred_by_id is not None


def referrer_for(capture: Capture | None) -> Referrer | None:
    if capture is None:
        return None
    # From the database, not the click cache: a signup is attributed once and for
    # good, so never to a code whose owner changed or was forgotten meanwhile.
    referrer = find_referrer(capture.code, cached=False)
    if referrer is None:
        raise UnknownCode("That referral code does not exist.")
    return referrer


def _email_exists(email: str) -> bool:
    User = user_model()
    return db.session.scalar(
        sa.select(sa.exists().where(user_sql(User).email == email))
    )


def _insert_user(session, user, referred_by_id) -> None:
    """Insert the user and their account; _AccountClash if a row refuses them.

    The account's code goes into referral_codes with it (see
    fraud/models.insert_primary_code), so a clash there counts too. Without a
    savepoint the whole transaction is retried: clashes are rare (a code clash is
    ~1 in 10^11), and the savepoint would cost every signup two statements.
    """
    session.add(user)
    try:
        session.flush()
        accounts.add_account(session, user_pk_value(user), referred_by_id)
    except (IntegrityError, accounts.AccountClash) as error:
        raise _AccountClash from error


def _referral(user_id, referrer: Referrer, origin: "Origin") -> Referral:
    # The referred user is new, so it cannot be the referrer; the schema's
    # not_self check and the unique referred_id back this up.
    capture = origin.capture
    return Referral(
        referrer_id=referrer.id,
        referred_id=user_id,
        code=referrer.code,
        source=capture.source,
        captured_at=capture.captured_at,
        visit_id=capture.visit_id
        or visit_buffer.written_visit_id(
            referrer.id, origin.visitor_id, captured_at=capture.captured_at
        ),
        signup_ip_hash=origin.ip_hash,
        signup_visitor_id=origin.visitor_id,
    )
