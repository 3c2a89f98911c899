"""The admins' digest: rewards waiting for review and referrals newly flagged.

One digest per day at most (its key is the date), to each admin who has not turned
it off, and only when there is something to do. A job (or
``flask referrals email-digest``) calls :func:`send_admin_digest`.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.emails.delivery import send_once
from referral_site.referrals.emails.models import EmailCategory, EmailDelivery
from referral_site.referrals.emails.sending import mail_enabled
from referral_site.referrals.fraud.models import FlagAction, ReferralFlagEvent
from referral_site.referrals.storage.db import db, user_pk
from referral_site.referrals.storage.models import Reward, RewardStatus, utcnow


@dataclass(frozen=True)
class DigestFigures:
    """What a digest reports."""

    #: (currency, count, amount_minor) of rewards in review.
    awaiting: list[tuple[str, int, int]]
    #: Referrals flagged since the last digest.
    new_flags: int
    since: datetime

    @property
    def empty(self) -> bool:
        return not self.awaiting and not self.new_flags


def digest_figures(now: datetime) -> DigestFigures:
    """Rewards in review by currency, and flags raised since the previous digest."""
    since = db.session.scalar(
        sa.select(sa.func.max(EmailDelivery.claimed_at)).where(
            EmailDelivery.category == EmailCategory.ADMIN_DIGEST
        )
    ) or now - timedelta(days=1)
    awaiting = db.session.execute(
        sa.select(Reward.currency, sa.func.count(), sa.func.sum(Reward.amount_minor))
        .where(Reward.status == RewardStatus.REVIEW)
        .group_by(Reward.currency)
        .order_by(Reward.currency)
    ).all()
    new_flags = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(ReferralFlagEvent.referral_id))).where(
            ReferralFlagEvent.action == FlagAction.FLAGGED,
            ReferralFlagEvent.created_at >= since,
        )
    )
    return DigestFigures(
        awaiting=[(c, int(n), int(total)) for c, n, total in awaiting],
        new_flags=int(new_flags or 0),
        since=since,
    )


def admin_ids() -> list:
    """The ids of the host's admins, by the plugin's admin accessor."""
    state = current_app.extensions["referrals"]
    condition = state.users.is_admin(state.user_model)
    if isinstance(condition, bool):  # no admin flag on the model: nobody
        return []
    return list(
        db.session.scalars(sa.select(user_pk(state.user_model)).where(condition))
    )


def send_admin_digest(now: datetime | None = None) -> int:
    """Email today's digest to every admin who wants it; how many were sent.

    Safe to run often and from several hosts: each admin gets one per day.
    """
    if not mail_enabled():
        return 0
    now = now or utcnow()
    figures = digest_figures(now)
    if figures.empty:
        return 0
    key = f"digest:{now:%Y-%m-%d}"
    return sum(
        send_once(
            key,
            admin_id,
            EmailCategory.ADMIN_DIGEST,
            "admin_digest",
            **{"figures": figures},
        )
        for admin_id in admin_ids()
    )
