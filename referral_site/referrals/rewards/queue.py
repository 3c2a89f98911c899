"""The admins' reward queue: its filters, its order, and why each reward waits.

A :class:`QueueFilter` is read from the query string (unknown values fall back to
no filter, never to an error), applied to the queue's query for a page of rows,
and again to pick every reward it matches for a decision on all of them.
"""

from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.fraud.models import ReferralSignalRecord
from referral_site.referrals.input_checks import without_control_characters
from referral_site.referrals.rewards.lifecycle import active_rules, rule_of
from referral_site.referrals.rewards.queries import queue_query
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import (
    Referral,
    ReviewStatus,
    Reward,
    RewardStatus,
    utcnow,
)
from referral_site.referrals.storage.pagination import Page, paginate_rows
from referral_site.referrals.users import integer_keys, user_sql

#: Status filters: every status, plus "all" and "ready" (hold over: approvable now).
STATUSES = ("all", "ready") + tuple(status.value for status in RewardStatus)
#: Sort keys of the queue's columns and what they order by.
SORTS = {
    "created": (Reward.created_at,),
    "amount": (Reward.currency, Reward.amount_minor),
    "hold": (Reward.hold_until,),
    "status": (Reward.status,),
}
#: Most rewards one decision on "all matching" may take, so a request stays short.
MAX_BULK = 5_000


@dataclass(frozen=True)
class QueueFilter:
    """What the admin asked the queue for; each field is a query-string parameter."""

    status: str = "all"
    #: A person as typed (their id or email) and whom it found (None: no one).
    person: str = ""
    person_id: int | str | None = None
    rule: str = ""
    since: date | None = None
    until: date | None = None
    sort: str = "created"
    order: str = "asc"

    def args(self, **changes) -> dict:
        """The filter as query-string arguments (for links), with some changed."""
        changed = replace(self, **changes)
        values = {f.name: getattr(changed, f.name) for f in fields(self)}
        values.pop("person_id")
        defaults = QueueFilter()
        return {
            name: (value.isoformat() if isinstance(value, date) else value)
            for name, value in values.items()
            if value not in (None, "") and value != getattr(defaults, name)
        }

    @property
    def flipped(self) -> str:
        return "desc" if self.order == "asc" else "asc"


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def find_person(typed: str):
    """The id of the user an admin typed (their id or their email), or None."""
    User = current_app.extensions["referrals"].user_model
    user = user_sql(User)
    typed = typed.strip()
    if "@" in typed:
        condition = sa.func.lower(user.email) == typed.lower()
    elif not integer_keys(User):
        condition = user.id == typed
    elif typed.isdigit() and len(typed) < 10:
        condition = user.id == int(typed)
    else:
        return None  # names no one: an integer key is never text (PostgreSQL says so)
    return db.session.scalar(sa.select(user.id).where(condition))


def parse_filter(args) -> QueueFilter:
    """A filter from request arguments; what is malformed is left out."""
    status = args.get("status", "all")
    sort = args.get("sort", "created")
    # Typed into a search box: control characters are dropped, never queried.
    person = without_control_characters(args.get("person") or "").strip()[:254]
    return QueueFilter(
        status=status if status in STATUSES else "all",
        person=person,
        person_id=find_person(person) if person else None,
        rule=without_control_characters(args.get("rule") or "").strip()[:64],
        since=_day(args.get("since")),
        until=_day(args.get("until")),
        sort=sort if sort in SORTS else "created",
        order="desc" if args.get("order") == "desc" else "asc",
    )


def rule_names() -> list[str]:
    """Rules an admin can filter by: those in force and those stored on rewards."""
    stored = db.session.scalars(sa.select(Reward.rule).distinct())
    return sorted({rule.name for rule in active_rules()} | set(stored))


def _ready(now: datetime):
    return sa.or_(
        Reward.status == RewardStatus.REVIEW,
        sa.and_(Reward.status == RewardStatus.PENDING, Reward.hold_until <= now),
    )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _filtered(query: sa.Select, wanted: QueueFilter) -> sa.Select:
    if wanted.status == "ready":
        query = query.where(_ready(utcnow()))
    elif wanted.status != "all":
        query = query.where(Reward.status == RewardStatus(wanted.status))
    if wanted.person and wanted.person_id is None:
        query = query.where(sa.false())  # nobody has that id or email
    elif wanted.person:
        # Whom the person received, and what the people they referred received.
        query = query.where(
            sa.or_(
                Reward.user_id == wanted.person_id,
                Referral.referrer_id == wanted.person_id,
            )
        )
    if wanted.rule:
        query = query.where(Reward.rule == wanted.rule)
    if wanted.since:
        query = query.where(Reward.created_at >= _midnight(wanted.since))
    if wanted.until:
        until = _midnight(wanted.until) + timedelta(days=1)
        query = query.where(Reward.created_at < until)
    return query


def _ordered(query: sa.Select, wanted: QueueFilter) -> sa.Select:
    columns = SORTS[wanted.sort] + (Reward.id,)
    if wanted.order == "desc":
        return query.order_by(*(column.desc() for column in columns))
    return query.order_by(*columns)


def queue_page(wanted: QueueFilter, page: int, per_page: int) -> Page:
    """One page of the queue, filtered and sorted as asked."""
    query = _ordered(_filtered(queue_query(), wanted), wanted)
    count = _filtered(
        sa.select(sa.func.count(Reward.id)).outerjoin(
            Referral, Referral.id == Reward.referral_id
        ),
        wanted,
    )
    return paginate_rows(query, page, per_page, count=count)


def matching_ids(wanted: QueueFilter) -> list[int]:
    """The ids of every reward the filter matches (at most MAX_BULK), in order."""
    query = _filtered(
        sa.select(Reward.id).outerjoin(Referral, Referral.id == Reward.referral_id),
        wanted,
    )
    return list(db.session.scalars(_ordered(query, wanted).limit(MAX_BULK)))


def reasons_in_review(rows) -> dict[int, list[str]]:
    """Why each reward waits for an admin: its referral's flags, or its rule.

    Keyed by reward id; a reward with nothing to explain is absent.
    """
    flagged = {
        row.referral_id
        for row in rows
        if row.referral_id and row.review_status == ReviewStatus.FLAGGED
    }
    signals: dict[int, list[str]] = {referral_id: [] for referral_id in flagged}
    if flagged:
        records = db.session.scalars(
            sa.select(ReferralSignalRecord)
            .where(ReferralSignalRecord.referral_id.in_(flagged))
            .order_by(ReferralSignalRecord.id)
        )
        for record in records:
            label = record.name.value.replace("_", " ")
            text = f"{label}: {record.detail}" if record.detail else label
            signals[record.referral_id].append(text)
    reasons = {}
    for row in rows:
        found = _reasons(row, signals)
        if found:
            reasons[row.id] = found
    return reasons


def _reasons(row, signals: dict[int, list[str]]) -> list[str]:
    if row.referral_id in signals:
        return signals[row.referral_id] or ["referral flagged (no signal stored)"]
    if row.status != RewardStatus.REVIEW:
        return []
    rule = rule_of(row.program_version, row.rule)
    if rule is None:
        return [f"rule {row.rule} is not configured any more"]
    if rule.review:
        return [f"rule {row.rule} requires a review"]
    if rule.verified_email:
        return [f"rule {row.rule} waits for a verified email address"]
    return ["sent to review by an admin"]
