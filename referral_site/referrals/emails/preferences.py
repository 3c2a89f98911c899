"""Which categories of email each user receives: all, until they turn one off."""

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from referral_site.referrals.emails.models import EmailCategory, EmailOptOut
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.transactions import write_transaction

#: What each category is, as the user's preferences list them.
LABELS = {
    EmailCategory.FRIEND_SIGNED_UP: "A friend signed up with my link",
    EmailCategory.REWARD_EARNED: "I earned a reward",
    EmailCategory.REWARD_APPROVED: "A reward of mine was approved",
    EmailCategory.REWARD_PAID: "A reward of mine was paid",
    EmailCategory.REWARD_REJECTED: "A reward of mine was rejected (with the reason)",
    EmailCategory.MILESTONE_REACHED: "I reached a milestone",
    EmailCategory.ADMIN_DIGEST: "Admin notices: a daily digest of rewards awaiting "
    "review and new fraud flags, and webhooks turned off",
}
#: The categories every user sees on /referrals (admins also see the digest).
REFERRER_CATEGORIES = tuple(c for c in EmailCategory if c != EmailCategory.ADMIN_DIGEST)


def turned_off(user_id) -> set[EmailCategory]:
    """The categories this user turned off."""
    return set(
        db.session.scalars(
            sa.select(EmailOptOut.category).where(EmailOptOut.user_id == user_id)
        )
    )


def wants(user_id, category: EmailCategory) -> bool:
    """Whether this user receives emails of this category."""
    return not db.session.scalar(
        sa.select(
            sa.exists().where(
                EmailOptOut.user_id == user_id, EmailOptOut.category == category
            )
        )
    )


def set_preferences(user_id, enabled: set[EmailCategory], shown) -> None:
    """Turn on the ``enabled`` categories and off the other ``shown`` ones."""
    with write_transaction() as session:
        session.execute(
            sa.delete(EmailOptOut).where(
                EmailOptOut.user_id == user_id, EmailOptOut.category.in_(shown)
            )
        )
        for category in set(shown) - set(enabled):
            session.add(EmailOptOut(user_id=user_id, category=category))


def unsubscribe(user_id, category: EmailCategory) -> None:
    """Turn one category off (a one-click unsubscribe); doing it twice is a no-op."""
    try:
        with write_transaction() as session:
            if wants(user_id, category):
                session.add(EmailOptOut(user_id=user_id, category=category))
    except IntegrityError:
        pass  # a second click raced the first: off either way
