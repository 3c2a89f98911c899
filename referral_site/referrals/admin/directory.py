"""Finding people in the program: by email, name, current or old code, or id.

Every way in is an index lookup, so a search costs about the same at a million
users as at ten thousand: an email or a name by its start (a range on the email
column and on lower(name), which the host indexes: the site's migration 0011 does),
a code exactly (current or old: ``referral_codes.code`` is unique), a number as a
user id or a referral id (primary keys). Each way stops at :data:`MATCH_LIMIT`
people; the matches are then filtered and sorted among themselves.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.fraud.models import ReferralCode
from referral_site.referrals.input_checks import without_control_characters
from referral_site.referrals.reports.models import DailyTotal
from referral_site.referrals.storage.models import (
    Referral,
    ReferralAccount,
    ReviewStatus,
    Reward,
    RewardStatus,
    utcnow,
)
from referral_site.referrals.storage.pagination import Page, paginate_rows
from referral_site.referrals.users import integer_keys, user_fields, user_sql

#: Most people each way of matching a search brings back.
MATCH_LIMIT = 200
#: Sorts after every character a name or an email can hold (UTF-8 and C order).
_LAST_CHARACTER = "\U0010ffff"


@dataclass(frozen=True)
class Search:
    """What an admin looks for: some text, and filters."""

    text: str = ""
    flagged: bool = False
    disabled: bool = False
    ready: bool = False

    @property
    def filtered(self) -> bool:
        return self.flagged or self.disabled or self.ready

    def args(self) -> dict:
        """The search as query-string arguments, for the pager's links."""
        values = {
            "q": self.text,
            "flagged": self.flagged,
            "disabled": self.disabled,
            "ready": self.ready,
        }
        return {
            name: "1" if value is True else value
            for name, value in values.items()
            if value
        }


def parse_search(args) -> Search:
    """A search from request arguments (?q=, ?flagged=1, ?disabled=1, ?ready=1)."""
    return Search(
        text=without_control_characters(args.get("q") or "").strip()[:254],
        flagged=bool(args.get("flagged")),
        disabled=bool(args.get("disabled")) and can_filter_disabled(),
        ready=bool(args.get("ready")),
    )


def can_filter_disabled() -> bool:
    """Whether the host tells disabled accounts apart (REFERRALS_USER_IS_DISABLED)."""
    return user_fields().is_disabled is not None


def _user_model():
    return current_app.extensions["referrals"].user_model


def _starting_with(expression, prefix: str):
    return sa.and_(expression >= prefix, expression < prefix + _LAST_CHARACTER)


def _text_matches(text: str) -> list[sa.Select]:
    """One query of user ids per way the text can name someone."""
    User = _user_model()
    user = user_sql(User)
    lowered = text.lower()
    ways = [
        sa.select(user.id).where(_starting_with(user.email, lowered)),
        sa.select(ReferralCode.user_id).where(ReferralCode.code == text.upper()),
    ]
    if "@" not in text:
        name = sa.func.lower(user_fields().name(User))
        ways.append(sa.select(user.id).where(_starting_with(name, lowered)))
    if not integer_keys(User):
        # A string key (a UUID...) names its person only whole, as it is written.
        ways.append(sa.select(user.id).where(user.id == text))
    if text.isdigit() and len(text) < 10:
        number = int(text)
        if integer_keys(User):
            ways.append(sa.select(user.id).where(user.id == number))
        ways.append(sa.select(Referral.referrer_id).where(Referral.id == number))
        ways.append(sa.select(Referral.referred_id).where(Referral.id == number))
    return [_limited(way) for way in ways]


def _limited(way: sa.Select) -> sa.Select:
    """At most MATCH_LIMIT ids (a subquery: SQLite refuses LIMIT inside a UNION)."""
    return sa.select(way.limit(MATCH_LIMIT).subquery().c[0])


def _filter_matches(wanted: Search) -> list[sa.Select]:
    """Without text: the people each filter names, through its own index."""
    User = _user_model()
    ways = []
    if wanted.flagged:
        ways.append(_flagged_referrers())
    if wanted.ready:
        ways.append(_with_ready_rewards())
    if wanted.disabled:
        user = user_sql(User)
        ways.append(sa.select(user.id).where(user_fields().is_disabled(User)))
    return [_limited(way) for way in ways[:1]]  # the others filter below


def _flagged_referrers() -> sa.Select:
    return sa.select(Referral.referrer_id).where(
        Referral.review_status == ReviewStatus.FLAGGED
    )


def _with_ready_rewards() -> sa.Select:
    """People with rewards an admin can approve now (in review, or hold over)."""
    return sa.select(Reward.user_id).where(
        sa.or_(
            Reward.status == RewardStatus.REVIEW,
            sa.and_(
                Reward.status == RewardStatus.PENDING, Reward.hold_until <= utcnow()
            ),
        )
    )


def _people(ids: sa.Select | None) -> sa.Select:
    """Rows of the directory: who, their current code, when they joined."""
    User = _user_model()
    user = user_sql(User)
    columns = [
        user.id,
        user.name,
        user.email,
        ReferralAccount.code.label("referral_code"),
        ReferralAccount.created_at,
    ]
    fields = user_fields()
    if fields.is_disabled is not None:
        columns.append(fields.is_disabled(User).label("disabled"))
    query = sa.select(*columns).join(
        ReferralAccount, ReferralAccount.user_id == user.id
    )
    if ids is not None:
        query = query.where(user.id.in_(ids))
    return query


def _with_filters(query: sa.Select, wanted: Search) -> sa.Select:
    User = _user_model()
    user = user_sql(User)
    if wanted.flagged:
        query = query.where(user.id.in_(_flagged_referrers()))
    if wanted.ready:
        query = query.where(user.id.in_(_with_ready_rewards()))
    if wanted.disabled:
        query = query.where(user_fields().is_disabled(User))
    return query


def search_people(wanted: Search, page: int, per_page: int) -> Page:
    """One page of the people a search finds, by name; newest members without one."""
    ways = _text_matches(wanted.text) if wanted.text else _filter_matches(wanted)
    if not ways:
        # Nothing asked: the newest members, counted from the kept daily totals.
        query = _people(None).order_by(
            ReferralAccount.created_at.desc(), ReferralAccount.user_id.desc()
        )
        count = sa.select(sa.func.coalesce(sa.func.sum(DailyTotal.users), 0))
        return paginate_rows(query, page, per_page, count=count)
    ids = sa.union(*ways).subquery()
    query = _with_filters(_people(sa.select(ids.c[0])), wanted)
    user = user_sql(_user_model())
    return paginate_rows(query.order_by(user.name, user.id), page, per_page)
