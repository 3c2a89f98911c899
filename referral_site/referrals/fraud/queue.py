"""Queries behind /admin/fraud: referrals by review status, their signals, history."""

import sqlalchemy as sa
import sqlalchemy.orm
from flask import current_app

from referral_site.referrals.fraud.models import ReferralFlagEvent, ReferralSignalRecord
from referral_site.referrals.rewards.clawbacks import left_to_claw_back
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import Referral, ReviewStatus, Reward
from referral_site.referrals.storage.pagination import Page, paginate_rows
from referral_site.referrals.users import user_sql


def review_page(status: ReviewStatus, page: int, per_page: int) -> Page:
    """One page of referrals in a review status, newest first, with both users."""
    User = current_app.extensions["referrals"].user_model
    referrer = sa.orm.aliased(User)
    referred = sa.orm.aliased(User)
    referred_cols = user_sql(referred)
    referrer_cols = user_sql(referrer)
    query = (
        sa.select(
            Referral.id,
            Referral.referrer_id,
            Referral.referred_id,
            Referral.created_at,
            Referral.code,
            Referral.source,
            Referral.status,
            Referral.review_status,
            referrer_cols.name.label("referrer_name"),
            referrer_cols.email.label("referrer_email"),
            referred_cols.name.label("referred_name"),
            referred_cols.email.label("referred_email"),
        )
        .join(referrer, referrer_cols.id == Referral.referrer_id)
        .join(referred, referred_cols.id == Referral.referred_id)
        .where(Referral.review_status == status)
        .order_by(Referral.created_at.desc(), Referral.id.desc())
    )
    return paginate_rows(query, page, per_page)


def signals_by_referral(referral_ids: list[int]) -> dict[int, list]:
    """The stored signals of some referrals, oldest first."""
    found: dict[int, list] = {referral_id: [] for referral_id in referral_ids}
    for row in db.session.scalars(
        sa.select(ReferralSignalRecord)
        .where(ReferralSignalRecord.referral_id.in_(referral_ids))
        .order_by(ReferralSignalRecord.id)
    ):
        found[row.referral_id].append(row)
    return found


def history_by_referral(referral_ids: list[int]) -> dict[int, list]:
    """The flag history of some referrals with the deciding admin's name."""
    User = current_app.extensions["referrals"].user_model
    user = user_sql(User)
    found: dict[int, list] = {referral_id: [] for referral_id in referral_ids}
    rows = db.session.execute(
        sa.select(ReferralFlagEvent, user.name.label("actor_name"))
        .outerjoin(User, user.id == ReferralFlagEvent.actor_id)
        .where(ReferralFlagEvent.referral_id.in_(referral_ids))
        .order_by(ReferralFlagEvent.id)
    )
    for event, actor_name in rows:
        found[event.referral_id].append((event, actor_name))
    return found


def rewards_by_referral(referral_ids: list[int]) -> dict[int, list]:
    """The rewards of some referrals (id, status, amount, currency, clawed back)."""
    found: dict[int, list] = {referral_id: [] for referral_id in referral_ids}
    rows = db.session.execute(
        sa.select(
            Reward.referral_id,
            Reward.id,
            Reward.status,
            Reward.amount_minor,
            Reward.currency,
            (left_to_claw_back() <= 0).label("clawed_back"),
        )
        .where(Reward.referral_id.in_(referral_ids), Reward.adjusts_reward_id.is_(None))
        .order_by(Reward.id)
    )
    for row in rows:
        found[row.referral_id].append(row)
    return found
