"""What a referrer's own page shows: their figures and the people they referred."""

from dataclasses import dataclass

import sqlalchemy as sa

from referral_site.referrals.attribution.services import user_model
from referral_site.referrals.reports.models import ReferrerTotal
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import (
    Referral,
    ReferralStatus,
    ReviewStatus,
)
from referral_site.referrals.storage.pagination import Page, paginate_rows
from referral_site.referrals.users import user_sql


@dataclass(frozen=True)
class ReferrerSummary:
    """The figures on a user's own page."""

    clicks: int
    signups: int
    converted: int

    @property
    def signup_rate(self) -> float | None:
        """Signups per click, or None before the first click."""
        return self.signups / self.clicks if self.clicks else None

    @property
    def conversion_rate(self) -> float | None:
        """Conversions per signup, or None before the first signup."""
        return self.converted / self.signups if self.signups else None


def referrer_summary(user_id: int) -> ReferrerSummary:
    """Clicks on a user's links, signups attributed to them and their conversions.

    One row, however many there were: the referrer's all-time totals, kept on
    write in the transaction of each click and referral (storage/totals.py).
    """
    row = db.session.execute(
        sa.select(
            ReferrerTotal.clicks, ReferrerTotal.signups, ReferrerTotal.conversions
        ).where(ReferrerTotal.referrer_id == user_id)
    ).one_or_none()
    clicks, signups, converted = row or (0, 0, 0)
    return ReferrerSummary(clicks=clicks, signups=signups, converted=converted)


def referred_users_page(user_id: int, page: int, per_page: int) -> Page:
    """One page of the people a user referred, newest first."""
    User = user_model()
    user = user_sql(User)
    query = (
        sa.select(
            user.name,
            user.email,
            Referral.created_at,
            Referral.status,
            Referral.source,
        )
        .join(User, user.id == Referral.referred_id)
        .where(Referral.referrer_id == user_id)
        .order_by(Referral.created_at.desc(), Referral.id.desc())
    )
    # Each referral counts once in its referrer's signups, kept on write: the pager
    # reads that row instead of counting a popular referrer's referrals.
    signups = sa.select(ReferrerTotal.signups).where(
        ReferrerTotal.referrer_id == user_id
    )
    count = sa.select(sa.func.coalesce(signups.scalar_subquery(), 0))
    return paginate_rows(query, page, per_page, count=count)


def qualified_referrals(user_id: int) -> int:
    """Referrals that count towards milestones: converted, not confirmed as abuse
    (as rewards/grants.py counts them)."""
    return db.session.scalar(
        sa.select(sa.func.count(Referral.id)).where(
            Referral.referrer_id == user_id,
            Referral.status == ReferralStatus.CONVERTED,
            Referral.review_status != ReviewStatus.CONFIRMED,
        )
    )
