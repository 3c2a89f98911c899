"""Who invited a visitor who followed a link, and what they get: for landing pages.

``current_invitation()`` (also the template global ``referral_invitation()``) reads
the code captured on this request or in the visitor's cookie, and returns the
inviter's display name, never their email, with the offer worded for the invited
person. A host with its own signup page shows it there (see docs/plugin.md).
"""

from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, g, has_request_context, request

from referral_site.referrals.attribution import services
from referral_site.referrals.capture import cookies
from referral_site.referrals.program import offer
from referral_site.referrals.program.cache import program_cache
from referral_site.referrals.storage.db import db
from referral_site.referrals.users import user_sql

#: Shown when the inviter's only name is an email address.
ANONYMOUS_INVITER = "A friend"


@dataclass(frozen=True)
class Invitation:
    """What an invited visitor is told."""

    #: The inviter's display name (never their email address).
    inviter: str
    #: What the invited person gets, in plain words; None if nothing.
    offer: str | None
    #: The code they followed (to prefill a code field).
    code: str


def current_invitation() -> Invitation | None:
    """The invitation of the visitor of this request, or None if not invited."""
    if not has_request_context():
        return None
    if "referrals_invitation" not in g:
        g.referrals_invitation = _invitation()
    return g.referrals_invitation


def _invitation() -> Invitation | None:
    captured = g.get("referrals_capture")
    if captured is None:
        # Without the cookie there is nothing to read: a visitor who followed no
        # link costs the page no query.
        if current_app.config["REFERRALS_COOKIE_NAME"] not in request.cookies:
            return None
        captured = cookies.read_captured_code()
    if captured is None:
        return None
    referrer = services.find_referrer(captured.code)
    if referrer is None:
        return None
    # Both read as the click path reads codes, from this worker's caches: a
    # landing page through a link costs no query beyond its capture. A new name
    # or program shows within REFERRALS_CODE_CACHE_SECONDS and
    # REFERRALS_PROGRAM_CHECK_SECONDS.
    return Invitation(
        inviter=_inviter_name(referrer.id),
        offer=offer.referred_offer(program_cache().cached()),
        code=referrer.code,
    )


def _inviter_name(user_id) -> str:
    names = current_app.extensions["referrals"].inviter_names
    name = names.get(str(user_id))
    if name is None:
        name = display_name(user_id)
        names.put(str(user_id), user_id, name)
    return name


def display_name(user_id) -> str:
    """A user's name as shown to others: never an email address."""
    User = current_app.extensions["referrals"].user_model
    user = user_sql(User)
    name = db.session.scalar(sa.select(user.name).where(user.id == user_id))
    if not name or "@" in name:
        return ANONYMOUS_INVITER
    return name
