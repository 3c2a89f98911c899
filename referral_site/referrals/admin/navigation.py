"""The admin console's sections: one list, shown on every admin page, current marked.

A part of the plugin (or a host) adds a page to the console with
:func:`add_section`; a section whose endpoint is not registered on the app (payouts
or settings before they exist) is simply not shown.
"""

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, request, url_for

from referral_site.referrals.blueprint import bp
from referral_site.referrals.reports.models import DailyRewardTotal
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import (
    Referral,
    ReviewStatus,
    RewardStatus,
)


@dataclass(frozen=True)
class Section:
    """One entry of the console's navigation."""

    endpoint: str
    label: str
    #: Other endpoints that belong to the section (a reward's page to Rewards...).
    includes: tuple[str, ...] = ()
    #: What waits for an admin there, shown beside the label (None: no count).
    count: Callable[[], int] | None = None


def awaiting_decision() -> int:
    """Rewards in review: those only an admin can move on.

    From the kept daily totals (a few rows a day), not by counting rewards. Pending
    rewards whose hold is over are approved by process-rewards, unless it finds a
    reason for review; the queue's "Ready to approve" lists them all the same.
    """
    query = sa.select(sa.func.coalesce(sa.func.sum(DailyRewardTotal.rewards), 0)).where(
        DailyRewardTotal.status == RewardStatus.REVIEW
    )
    return int(db.session.scalar(query))


def flagged_referrals() -> int:
    """Referrals flagged by the fraud checks and not yet reviewed."""
    query = sa.select(sa.func.count(Referral.id)).where(
        Referral.review_status == ReviewStatus.FLAGGED
    )
    return int(db.session.scalar(query))


#: The console's sections, in the order shown.
SECTIONS: list[Section] = [
    Section("referrals.admin_report", "Overview"),
    Section("referrals.admin_referrers", "Referrers", ("referrals.admin_referrer",)),
    Section(
        "referrals.admin_rewards",
        "Rewards",
        ("referrals.admin_reward",),
        count=awaiting_decision,
    ),
    Section("referrals.fraud_review", "Fraud", count=flagged_referrals),
    Section("referrals.admin_payouts", "Payouts"),
    Section("referrals.admin_settings", "Settings"),
    Section("referrals.admin_billing", "Billing"),
    Section("referrals.admin_webhooks", "Webhooks", ("referrals.admin_webhook",)),
]


def add_section(section: Section, *, after: str | None = None) -> None:
    """Add a section to the console (after the one with endpoint `after`, or last)."""
    endpoints = [existing.endpoint for existing in SECTIONS]
    if section.endpoint in endpoints:
        SECTIONS[endpoints.index(section.endpoint)] = section
        return
    at = endpoints.index(after) + 1 if after in endpoints else len(SECTIONS)
    SECTIONS.insert(at, section)


@dataclass(frozen=True)
class NavItem:
    """A section as the template shows it."""

    label: str
    url: str
    current: bool
    count: int | None


@bp.app_template_global("admin_sections")
def admin_sections() -> list[NavItem]:
    """The sections registered on this app, the one of the current page marked."""
    views = current_app.view_functions
    return [
        NavItem(
            label=section.label,
            url=url_for(section.endpoint),
            current=request.endpoint in (section.endpoint, *section.includes),
            count=section.count() if section.count else None,
        )
        for section in SECTIONS
        if section.endpoint in views
    ]


@bp.app_template_global("referrals_admin_page")
def referrals_admin_page() -> bool:
    """Whether this request shows a page of the admin console (for a host's menu)."""
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "referrals_admin", False))
