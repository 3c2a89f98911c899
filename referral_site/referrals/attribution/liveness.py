"""Whether a code still leads to a live account: suspended, forgotten, held codes.

Clicks may read a code from a worker's cache; everything that lasts (a referral,
a reward) asks the database here, in its own transaction, whatever the cache says.
"""

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.capture import code_changes
from referral_site.referrals.fraud.models import ReferralCode, ReferralCodeHold
from referral_site.referrals.storage.db import db, user_pk_value
from referral_site.referrals.storage.models import ReferralAccount, utcnow


def suspend_user(user) -> None:
    """Stop a user's codes and earnings while the host has the account suspended.

    Their links lead nowhere, no signup is attributed to them and no rule grants
    them anything until :func:`restore_user`; what they earned stays. Runs in the
    host's transaction (every worker hears of it when that commits).
    """
    _set_suspended(user_pk_value(user), suspended=True)


def restore_user(user) -> None:
    """Undo :func:`suspend_user`: the user's codes work and earn again."""
    _set_suspended(user_pk_value(user), suspended=False)


def _set_suspended(user_id, *, suspended: bool) -> None:
    session = db.session()
    account = session.get(ReferralAccount, user_id, with_for_update=True)
    if account is None or (account.suspended_at is not None) == suspended:
        return
    account.suspended_at = utcnow() if suspended else None
    code_changes.announce(session, user_id)
    current_app.extensions["referrals"].code_cache.forget_user(user_id)


def lock_live_account(session, user_id, code: str, *, also=()) -> bool:
    """Lock a referrer's account; True if it is live and still owns the code.

    Taken in the transaction that attributes or rewards: forgetting, suspending
    and changing codes lock the same row, so none can slip in before the commit.
    ``also``: SQL expressions evaluated in the same statement (one round trip),
    before the row is locked.
    """
    row = session.execute(
        sa.select(ReferralAccount.user_id, *also)
        .join(ReferralCode, ReferralCode.user_id == ReferralAccount.user_id)
        .where(
            ReferralAccount.user_id == user_id,
            ReferralCode.code == code,
            ReferralAccount.deleted_at.is_(None),
            ReferralAccount.suspended_at.is_(None),
        )
        .with_for_update(of=ReferralAccount)
    ).first()
    return row is not None


def not_earning(session, user_ids) -> set:
    """Which of these users earn nothing: forgotten or suspended."""
    return set(
        session.scalars(
            sa.select(ReferralAccount.user_id).where(
                ReferralAccount.user_id.in_(tuple(user_ids)),
                sa.or_(
                    ReferralAccount.deleted_at.is_not(None),
                    ReferralAccount.suspended_at.is_not(None),
                ),
            )
        )
    )


def hold_codes(session, codes: list[str]) -> None:
    """Keep a forgotten user's codes from anyone else for the attribution window."""
    if not codes:
        return
    days = int(current_app.config["REFERRALS_ATTRIBUTION_WINDOW_DAYS"])
    until = utcnow() + timedelta(days=days, hours=1)  # a cookie set just now
    session.execute(sa.delete(ReferralCodeHold).where(ReferralCodeHold.code.in_(codes)))
    session.execute(
        sa.insert(ReferralCodeHold),
        [{"code": code, "held_until": until} for code in codes],
    )


def is_held(session, code: str) -> bool:
    """Whether a code was freed too recently for someone else to take it."""
    return bool(
        session.scalar(
            sa.select(
                sa.exists().where(
                    ReferralCodeHold.code == code,
                    ReferralCodeHold.held_until > utcnow(),
                )
            )
        )
    )
