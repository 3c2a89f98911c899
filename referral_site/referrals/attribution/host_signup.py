"""Attribution inside the host's own signup, in the host's own transaction.

``attribute_signup(user)`` is what a host with its own registration calls after
creating (and flushing) its user; ``forget_user(user)`` is what it calls when it
deletes or anonymises an account. Neither commits: the host's commit (or
rollback) decides for both the host's rows and the plugin's.
"""

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, current_app, has_request_context, request
from sqlalchemy.orm import Session, SessionTransaction

from referral_site.referrals import signals
from referral_site.referrals.attribution import accounts, liveness, services
from referral_site.referrals.capture import code_changes, cookies
from referral_site.referrals.capture.visits import hash_ip
from referral_site.referrals.fraud.models import ReferralCode, UserSighting
from referral_site.referrals.fraud.review import mailbox_digest
from referral_site.referrals.outbox import events as outbox
from referral_site.referrals.payouts.models import (
    PayoutAccount,
    PayoutDetailChange,
    PendingPayoutDetails,
)
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.storage.db import db, user_pk_value
from referral_site.referrals.storage.models import (
    CaptureSource,
    Referral,
    ReferralAccount,
    utcnow,
)
from referral_site.referrals.storage.transactions import committed_for_good


@dataclass(frozen=True)
class Attribution:
    """What ``attribute_signup`` did for a new user."""

    #: The new user's own referral code.
    code: str
    #: Who referred them, or None.
    referrer_id: object | None
    #: The referral written (None when nobody referred them).
    referral: Referral | None


def attribute_signup(user, *, typed_code: str | None = None) -> Attribution:
    """Give a user the host just created their account and, if referred, referral.

    Call it after adding and flushing the user, before the host commits. The
    code comes from the capture cookie, or from ``typed_code`` when the host's
    form has a referral code field (an empty field means no referral; the
    cookie's code prefills it, see ``captured_code``). Applies every rule of the
    plugin's own signup: unknown codes, self-referral and loops, fraud signals,
    the attribution model and window, signup rewards. Raises ``UnknownCode``,
    ``ReferralLoop`` or ``EmailBlocked`` (all ``ReferralError``, with a message to
    show) before writing anything; signals are sent once the host's transaction commits.
    """
    user_id = user_pk_value(user)
    if user_id is None:
        raise RuntimeError("attribute_signup needs the user flushed (it has no id)")
    session = db.session()
    existing = accounts.account_of(user_id)
    if existing is not None:  # already in the program: attributed once, not twice
        return Attribution(existing.code, existing.referred_by_id, None)
    capture = _capture_for(typed_code)
    try:
        referrer = services.referrer_for(capture)
    except services.UnknownCode:
        if typed_code is not None:
            raise
        # A code in the cookie that no longer resolves (its owner was forgotten):
        # the person typed nothing they could correct, so they join unreferred.
        capture, referrer = None, None
    email = current_app.extensions["referrals"].users.email(user)
    origin = None
    services.refuse_blocked(email)
    if referrer is not None:
        origin = services.Origin(capture, *_request_origin())
        services.refuse_loop(referrer, email)
        services.lock_live_referrer(session, referrer, origin.ip_hash)
    account = _add_account(session, user_id, referrer)
    notices = rewards.Notices()
    referral = None
    if referrer is not None:
        referral = services.write_referral(
            session, user_id, email, referrer, origin, notices
        )
    else:
        outbox.user_signed_up(session, user_id, None)
    _announce_after_commit(session, user, referral, notices)
    if has_request_context():
        cookies.forget()
    return Attribution(account.code, account.referred_by_id, referral)


def captured_code() -> str | None:
    """The code captured from a referral link, to prefill a host's code field."""
    captured = cookies.read_captured_code()
    return captured.code if captured is not None else None


def _capture_for(typed_code: str | None) -> services.Capture | None:
    captured = cookies.read_captured_code() if has_request_context() else None
    return signup_capture(typed_code, captured)


def signup_capture(typed_code: str | None, captured) -> services.Capture | None:
    """The evidence for a signup's code: the captured cookie's, or typed by hand.

    ``typed_code`` None means the form has no code field (the cookie decides); an
    empty one means the person cleared it (no referral). When the typed code
    differs from the cookie's, REFERRALS_TYPED_CODE_WINS decides.
    """
    if typed_code is None:
        return None if captured is None else _from_cookie(captured)
    if not typed_code.strip():
        return None  # a cleared field means no referral
    cookie_wins = not current_app.config["REFERRALS_TYPED_CODE_WINS"]
    if captured is not None and (
        captured.code == typed_code.strip().upper() or cookie_wins
    ):
        return _from_cookie(captured)
    return services.Capture(code=typed_code.strip(), source=CaptureSource.TYPED)


def _from_cookie(captured) -> services.Capture:
    return services.Capture(
        code=captured.code,
        source=captured.source,
        captured_at=captured.captured_at,
        visit_id=captured.visit_id,
    )


def _request_origin() -> tuple[str | None, str | None]:
    """The keyed IP hash and visitor id of the signup request (for fraud signals)."""
    if not has_request_context():
        return None, None
    return hash_ip(request.remote_addr), cookies.visitor_id()


def _add_account(session: Session, user_id, referrer) -> ReferralAccount:
    """The account, in a savepoint: a clashing code is drawn again, the host's
    user row stays."""
    referred_by = referrer.id if referrer is not None else None
    for _ in range(accounts.CODE_ATTEMPTS):
        try:
            with session.begin_nested():
                return accounts.add_account(session, user_id, referred_by)
        except accounts.AccountClash:
            continue
    raise RuntimeError("could not draw a unique referral code")


#: Key in a session's info: the signups whose signals wait for the host's commit.
_PENDING_SIGNALS = "referrals_pending_signup_signals"


@dataclass(frozen=True)
class _Announcement:
    app: Flask
    user: object
    referral: Referral | None
    notices: rewards.Notices
    #: The savepoint the signup was written in (None: the transaction itself).
    within: SessionTransaction | None


def _announce_after_commit(session: Session, user, referral, notices) -> None:
    """Send the signup's signals when the host commits; drop them on a rollback."""
    session.info.setdefault(_PENDING_SIGNALS, []).append(
        _Announcement(
            current_app._get_current_object(),
            user,
            referral,
            notices,
            session.get_nested_transaction(),
        )
    )


@sa.event.listens_for(Session, "after_commit")
def _send_signup_signals(session: Session) -> None:
    if not committed_for_good(session):
        return  # a savepoint's release: the host may still roll back
    for announced in session.info.pop(_PENDING_SIGNALS, ()):
        with announced.app.app_context():
            signals.user_signed_up.send(
                announced.app, user=announced.user, referral=announced.referral
            )
            if announced.referral is not None:
                signals.referral_created.send(
                    announced.app, referral=announced.referral
                )
            announced.notices.send()


@sa.event.listens_for(Session, "after_soft_rollback")
def _drop_undone_signup_signals(session: Session, rolled_back) -> None:
    """A savepoint's rollback drops the signals of the signups written inside it."""
    pending = session.info.get(_PENDING_SIGNALS)
    if pending and rolled_back.nested:
        session.info[_PENDING_SIGNALS] = [
            announced
            for announced in pending
            if not _inside(announced.within, rolled_back)
        ]


@sa.event.listens_for(Session, "after_transaction_end")
def _drop_uncommitted_signup_signals(session: Session, transaction) -> None:
    """The host's transaction ended: after its commit the signals are sent already;
    after a rollback, or a close without a commit, none are."""
    if transaction.parent is None:
        session.info.pop(_PENDING_SIGNALS, None)


def _inside(transaction: SessionTransaction | None, savepoint) -> bool:
    while transaction is not None:
        if transaction is savepoint:
            return True
        transaction = transaction.parent
    return False


def forget_user(user) -> None:
    """Forget what the plugin knows of a user the host deletes or anonymises.

    Their codes stop working, their devices and IP hashes are removed and their
    account is marked deleted; referrals, counts and the reward ledger stay whole,
    so referrers keep their figures and the books balance. The host's own columns
    are left to the host. Runs in the host's transaction; call it before the host
    deletes the user row (an account deleted outright cascades).
    """
    user_id = user_pk_value(user)
    session = db.session()
    account = session.get(ReferralAccount, user_id, with_for_update=True)
    if account is None or account.deleted_at is not None:
        return
    email = current_app.extensions["referrals"].users.email(user)
    codes = session.scalars(
        sa.select(ReferralCode.code).where(ReferralCode.user_id == user_id)
    ).all()
    liveness.hold_codes(session, list(codes))
    session.execute(sa.delete(ReferralCode).where(ReferralCode.user_id == user_id))
    session.execute(sa.delete(UserSighting).where(UserSighting.user_id == user_id))
    # Payout details are theirs to take away (a change awaiting its link too: the
    # address it went to is gone); the lines of payouts made stay for the books.
    for model in (PayoutAccount, PayoutDetailChange, PendingPayoutDetails):
        session.execute(sa.delete(model).where(model.user_id == user_id))
    session.execute(
        sa.update(Referral)
        .where(Referral.referred_id == user_id)
        .values(signup_ip_hash=None, signup_visitor_id=None)
    )
    account.deleted_mailbox_digest = mailbox_digest(email) if email else None
    account.code = _deleted_code(user_id)
    account.deleted_at = utcnow()
    code_changes.announce(session, user_id)
    services.forget_cached_codes(user_id)


def _deleted_code(user_id) -> str:
    """A forgotten account's code: DELETED is a reserved word, so this code never
    collides with a chosen one nor resolves; long keys (UUIDs) are hashed to fit."""
    code = f"DELETED{user_id}"
    if len(code) <= ReferralAccount.code.type.length:
        return code
    return "DELETED" + hashlib.sha256(str(user_id).encode()).hexdigest()[:25].upper()
