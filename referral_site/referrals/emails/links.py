"""What following an account link does: confirm an address, reset a password."""

from flask import current_app

from referral_site.referrals.emails import tokens
from referral_site.referrals.emails.models import TokenPurpose
from referral_site.referrals.payouts import confirmation as payout_confirmation
from referral_site.referrals.rewards.lifecycle import Notices
from referral_site.referrals.rewards.verification import release_verified_rewards
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.transactions import write_transaction
from referral_site.referrals.users import mark_email_verified


def _user_model():
    return current_app.extensions["referrals"].user_model


def check(purpose: TokenPurpose, token: str):
    """The id of the user a valid, unused link is for; InvalidLink otherwise."""
    return tokens.peek(purpose, token)


def user_of(purpose: TokenPurpose, token: str):
    """The user a valid, unused link is for; InvalidLink otherwise."""
    user = db.session.get(_user_model(), tokens.peek(purpose, token))
    if user is None:
        raise tokens.InvalidLink("This link is not valid: ask for a new one.")
    return user


def verify_email(token: str):
    """Use a verification link: the user's address is verified; returns the user.

    Rewards that waited for it (rules with ``verified_email``) go back to their
    normal course in the same transaction.
    """
    notices = Notices()
    with write_transaction(keep_loaded=True) as session:
        user_id = tokens.use(session, TokenPurpose.VERIFY_EMAIL, token)
        user = session.get(_user_model(), user_id)
        mark_email_verified(user)
        release_verified_rewards(session, user_id, notices)
    notices.send()
    return user


def reset_password(token: str, password: str) -> None:
    """Use a reset link: the user's new password (which ends their sessions, where
    the host's set_password does); their address is verified by it too."""
    notices = Notices()
    with write_transaction() as session:
        user_id = tokens.use(session, TokenPurpose.PASSWORD_RESET, token)
        user = session.get(_user_model(), user_id)
        user.set_password(password)
        mark_email_verified(user)
        release_verified_rewards(session, user_id, notices)
        # Asked for with the old password: whoever else knew it asked, perhaps.
        payout_confirmation.drop_change(session, user_id)
    notices.send()
