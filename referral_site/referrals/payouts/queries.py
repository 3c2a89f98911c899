"""Reads of payouts: the batches, one batch's lines, a person's payouts and what
they are owed (for /referrals)."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from referral_site.referrals.payouts.due import Due, due_list
from referral_site.referrals.payouts.exports import line_reference
from referral_site.referrals.payouts.models import (
    LineStatus,
    PayoutBatch,
    PayoutItem,
    PayoutLine,
)
from referral_site.referrals.storage.db import db
from referral_site.referrals.users import user_sql

#: Batches listed on the payouts page (newest first).
BATCHES_SHOWN = 50


@dataclass(frozen=True)
class BatchSummary:
    """A batch in the list: its status, lines and total per currency."""

    batch: PayoutBatch
    lines: int
    totals: dict[str, int]


def batches() -> list[BatchSummary]:
    """The latest batches, newest first, with their lines counted."""
    found = db.session.scalars(
        sa.select(PayoutBatch).order_by(PayoutBatch.id.desc()).limit(BATCHES_SHOWN)
    ).all()
    lines: dict[int, int] = defaultdict(int)
    totals: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = db.session.execute(
        sa.select(
            PayoutLine.batch_id,
            PayoutLine.currency,
            sa.func.count(),
            sa.func.sum(PayoutLine.amount_minor),
        )
        .where(
            PayoutLine.batch_id.in_([batch.id for batch in found]),
            PayoutLine.status != LineStatus.FAILED,
        )
        .group_by(PayoutLine.batch_id, PayoutLine.currency)
    )
    for batch_id, currency, count, amount in rows:
        lines[batch_id] += count
        totals[batch_id][currency] += int(amount)
    return [BatchSummary(b, lines[b.id], dict(totals[b.id])) for b in found]


@dataclass(frozen=True)
class LineView:
    """A line as shown: the person, the amount, its rewards and reference."""

    line: PayoutLine
    name: str
    email: str
    reference: str
    reward_ids: list[int] = field(default_factory=list)


def _reward_ids(line_ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {line_id: [] for line_id in line_ids}
    rows = db.session.execute(
        sa.select(PayoutItem.line_id, PayoutItem.reward_id)
        .where(PayoutItem.line_id.in_(line_ids))
        .order_by(PayoutItem.reward_id)
    )
    for line_id, reward_id in rows:
        found[line_id].append(reward_id)
    return found


def batch_lines(batch_id: int) -> list[LineView]:
    """A batch's lines with their people and rewards."""
    User = current_app.extensions["referrals"].user_model
    user = user_sql(User)
    rows = db.session.execute(
        sa.select(PayoutLine, user.name, user.email)
        .join(User, user.id == PayoutLine.user_id)
        .where(PayoutLine.batch_id == batch_id)
        .order_by(PayoutLine.id)
    ).all()
    rewards = _reward_ids([row[0].id for row in rows])
    return [
        LineView(
            line,
            name or "",
            email or "",
            line_reference(batch_id, line.id),
            rewards[line.id],
        )  # fmt: skip
        for line, name, email in rows
    ]


@dataclass(frozen=True)
class MyPayout:
    """One payout to a person, as their page shows it."""

    date: datetime
    amount_minor: int
    currency: str
    method: str
    reference: str
    status: LineStatus
    failure_reason: str
    reward_ids: list[int]


def my_payouts(user_id, limit: int = 50) -> list[MyPayout]:
    """A person's payouts, newest first: paid, being paid and failed (one query)."""
    reward_ids = (
        sa.select(
            sa.func.aggregate_strings(sa.cast(PayoutItem.reward_id, sa.String), " ")
        )
        .where(PayoutItem.line_id == PayoutLine.id)
        .scalar_subquery()
    )
    rows = db.session.execute(
        sa.select(PayoutLine, PayoutBatch, reward_ids)
        .join(PayoutBatch, PayoutBatch.id == PayoutLine.batch_id)
        .where(PayoutLine.user_id == user_id)
        .order_by(PayoutLine.id.desc())
        .limit(limit)
    ).all()
    return [
        MyPayout(
            date=batch.paid_at or batch.created_at,
            amount_minor=line.amount_minor,
            currency=line.currency,
            method="PayPal",
            reference=batch.reference or line_reference(batch.id, line.id),
            status=line.status,
            failure_reason=line.failure_reason,
            reward_ids=sorted(int(i) for i in (ids or "").split()),
        )
        for line, batch, ids in rows
    ]


def my_due(user_id) -> list[Due]:
    """What a person is owed per currency and not yet in a payout."""
    return due_list(user_id)
