"""A user's own account: vanity codes, a copy of their data, deleting the account.

Deleting anonymises the user row instead of removing it, so the referrals they made
or received stay counted and the reward history stays for accounting.
"""

import re
import secrets
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from referral_site.referrals.account.figures import referrer_summary
from referral_site.referrals.attribution import liveness
from referral_site.referrals.attribution.accounts import ensure_account
from referral_site.referrals.attribution.host_signup import forget_user
from referral_site.referrals.attribution.services import (
    forget_cached_codes,
    user_model,
)
from referral_site.referrals.capture import code_changes
from referral_site.referrals.fraud.models import ReferralCode, UserSighting
from referral_site.referrals.payouts.models import PayoutAccount, PendingPayoutDetails
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import (
    Referral,
    ReferralAccount,
    Reward,
    utcnow,
)
from referral_site.referrals.storage.transactions import write_transaction
from referral_site.referrals.users import user_fields

#: Words nobody may take as a code: they look official or clash with pages.
RESERVED_CODES = frozenset(
    {
        "ABOUT", "ACCOUNT", "ADMIN", "ADMINISTRATOR", "API", "BILLING", "CONTACT",
        "DELETED", "FRAUD", "HELP", "INFO", "LOGIN", "LOGOUT", "MAIL", "MODERATOR",
        "NONE", "NULL", "OFFICIAL", "OWNER", "PAYMENTS", "REF", "REFERRAL",
        "REFERRALS", "ROOT", "SECURITY", "SETTINGS", "SIGNUP", "STAFF", "STATIC",
        "SUPPORT", "SYSTEM", "TEAM", "TEST", "UNDEFINED", "WWW",
    }
)  # fmt: skip
_VANITY_SHAPE = re.compile(r"[A-Za-z0-9]+")
#: Name shown for deleted accounts in everyone's lists.
DELETED_NAME = "Deleted user"


class AccountError(Exception):
    """An account request was refused; the message is safe to show."""


class CodeRefused(AccountError):
    """The vanity code is malformed, reserved or taken."""


class WrongPassword(AccountError):
    """The password given to confirm a deletion is not the account's."""


def _config(key: str):
    return current_app.config["REFERRALS_" + key]


def reserved_codes() -> frozenset[str]:
    """The built-in reserved words plus REFERRALS_RESERVED_CODES."""
    extra = _config("RESERVED_CODES")
    if isinstance(extra, str):
        extra = extra.replace(",", " ").split()
    return RESERVED_CODES | {word.strip().upper() for word in extra or ()}


def vanity_code(raw: str) -> str:
    """The canonical form of a wanted code, or CodeRefused saying what is wrong."""
    code = (raw or "").strip()
    low, high = _config("VANITY_MIN_LENGTH"), _config("VANITY_MAX_LENGTH")
    if not code.isascii() or not _VANITY_SHAPE.fullmatch(code):
        raise CodeRefused("Use letters A-Z and digits only.")
    if not low <= len(code) <= high:
        raise CodeRefused(f"Use {low} to {high} letters and digits.")
    if code.upper() in reserved_codes():
        raise CodeRefused("That word is reserved; choose another code.")
    return code.upper()


def set_vanity_code(user_id: int, raw: str, *, capped: bool = True) -> str:
    """Make a chosen code the user's primary one; their older codes keep working.

    An admin changing someone's code (``capped=False``) is not held to
    REFERRALS_MAX_CODES_PER_USER.
    """
    code = vanity_code(raw)
    try:
        ensure_account(user_id)
        with write_transaction() as session:
            account = session.get(ReferralAccount, user_id, with_for_update=True)
            owned = session.scalar(
                sa.select(ReferralCode).where(ReferralCode.code == code)
            )
            taken = owned is not None and owned.user_id != user_id
            if taken or (owned is None and liveness.is_held(session, code)):
                raise CodeRefused("That code is taken; choose another.")
            mine = session.scalars(
                sa.select(ReferralCode).where(ReferralCode.user_id == user_id)
            ).all()
            if owned is None:
                if capped and len(mine) >= _config("MAX_CODES_PER_USER"):
                    raise CodeRefused(
                        f"You already have {len(mine)} codes, the most allowed."
                    )
                owned = ReferralCode(code=code, user_id=user_id, is_primary=False)
                session.add(owned)
            for row in mine:
                row.is_primary = False
            owned.is_primary = True
            account.code = code
            session.flush()
            code_changes.announce(session, user_id)
    except IntegrityError:
        # Someone took the code between our check and our insert.
        raise CodeRefused("That code is taken; choose another.") from None
    forget_cached_codes(user_id)  # links now record the new primary code
    return code


def user_codes(user_id: int) -> list[ReferralCode]:
    """The user's codes, primary first, then newest first."""
    return list(
        db.session.scalars(
            sa.select(ReferralCode)
            .where(ReferralCode.user_id == user_id)
            .order_by(ReferralCode.is_primary.desc(), ReferralCode.created_at.desc())
        )
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _payout_details(user_id) -> dict | None:
    payout = db.session.get(PayoutAccount, user_id)
    if payout is None:
        return None
    return {"method": payout.method.value, "paypal_email": payout.paypal_email}


def _pending_payout_details(user_id) -> dict | None:
    pending = db.session.get(PendingPayoutDetails, user_id)
    if pending is None:
        return None
    return {
        "method": pending.method.value,
        "paypal_email": pending.paypal_email,
        "link_sent_to": pending.sent_to,
        "asked_at": _iso(pending.created_at),
    }


def export_user_data(user_id: int) -> dict:
    """Everything stored about a user, as JSON-ready data (others' data masked)."""
    User = user_model()
    user = db.session.get(User, user_id)
    account = ensure_account(user_id)
    referred_by = db.session.scalar(
        sa.select(Referral).where(Referral.referred_id == user_id)
    )
    referred = db.session.execute(
        sa.select(Referral.created_at, Referral.status, Referral.source)
        .where(Referral.referrer_id == user_id)
        .order_by(Referral.created_at)
    )
    rewards = db.session.scalars(
        sa.select(Reward).where(Reward.user_id == user_id).order_by(Reward.id)
    )
    sightings = db.session.execute(
        sa.select(UserSighting.kind, UserSighting.last_seen_at).where(
            UserSighting.user_id == user_id
        )
    )
    summary = referrer_summary(user_id)
    return {
        "exported_at": utcnow().isoformat(),
        "account": {
            "id": user_id,
            "name": user_fields().name(user),
            "email": user_fields().email(user),
            "created_at": _iso(account.created_at),
            "referral_code": account.code,
        },
        "codes": [
            {"code": c.code, "primary": c.is_primary, "created_at": _iso(c.created_at)}
            for c in user_codes(user_id)
        ],
        "referred_by": None
        if referred_by is None
        else {
            "code": referred_by.code,
            "source": referred_by.source.value,
            "captured_at": _iso(referred_by.captured_at),
            "signed_up_at": _iso(referred_by.created_at),
        },
        "clicks_on_your_links": summary.clicks,
        "people_you_referred": [
            {"joined_at": _iso(at), "status": status.value, "source": source.value}
            for at, status, source in referred
        ],
        "rewards": [
            {
                "kind": reward.kind.value,
                "amount_minor": reward.amount_minor,
                "currency": reward.currency,
                "status": reward.status.value,
                "created_at": _iso(reward.created_at),
            }
            for reward in rewards
        ],
        "payout_details": _payout_details(user_id),
        "payout_details_awaiting_confirmation": _pending_payout_details(user_id),
        # Only keyed hashes and random ids are stored, so only their kind is shown.
        "signed_in_sightings": [
            {"kind": kind.value, "last_seen_at": _iso(at)} for kind, at in sightings
        ],
    }


def delete_account(user_id: int, *, password: str) -> None:
    """Anonymise an account after checking its password, and end its sessions.

    The plugin's own account page (REFERRALS_AUTH_VIEWS), for user models like
    the site's: forget_user() forgets the plugin's data, then name, email and
    password are scrubbed. The row, the referrals and the rewards stay so
    referrers keep their counts and the books stay whole.
    """
    with write_transaction() as session:
        account = session.get(ReferralAccount, user_id, with_for_update=True)
        user = session.get(user_model(), user_id)
        if user is None or account is None or account.deleted_at is not None:
            raise AccountError("This account no longer exists.")
        if not user.check_password(password or ""):
            raise WrongPassword("That is not your password; nothing was deleted.")
        forget_user(user)
        user.name = DELETED_NAME
        user.email = f"deleted-{user_id}@deleted.invalid"
        user.set_password(secrets.token_urlsafe(32))  # nobody knows it
        if hasattr(user, "rotate_session_token"):
            user.rotate_session_token()
        if hasattr(user, "is_admin"):
            user.is_admin = False
