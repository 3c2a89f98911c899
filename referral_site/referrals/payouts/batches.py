"""Payout batches: created from what is due, marked paid, or failed line by line.

Each is one transaction. Creating a batch locks the rewards it takes (FOR UPDATE;
BEGIN IMMEDIATE on SQLite) and inserts one item per reward; the partial unique index
on payout_items.reward_id refuses a reward another batch holds, so of two admins
creating batches at once the second finds those rewards taken and takes what is
left. Marking a batch paid moves its rewards through the reward lifecycle (history,
outbox, emails and totals), all or nothing.
"""

from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from referral_site.referrals.input_checks import has_control_characters
from referral_site.referrals.outbox import events as outbox
from referral_site.referrals.payouts.due import due_rewards
from referral_site.referrals.payouts.models import (
    BatchStatus,
    LineStatus,
    PayoutAccount,
    PayoutBatch,
    PayoutItem,
    PayoutLine,
    PayoutMethod,
)
from referral_site.referrals.payouts.settings import minimum_for
from referral_site.referrals.rewards.lifecycle import Notices, move
from referral_site.referrals.storage.models import (
    Reward,
    RewardEvent,
    RewardStatus,
    utcnow,
)
from referral_site.referrals.storage.transactions import write_transaction

#: Tries of a batch creation that lost rewards to a concurrent batch.
CREATE_TRIES = 3


class PayoutError(Exception):
    """A payout request was refused; the message is safe to show."""


@dataclass(frozen=True)
class Created:
    """A new batch: its id, lines and the total per currency."""

    batch_id: int
    lines: int
    totals: dict[str, int]


def create_batch(keys: list[tuple] | None, *, actor_id) -> Created:
    """A batch of everything payable (keys None) or of some (user id, currency)
    pairs: one line per pair with PayPal details whose net reaches the minimum."""
    for _ in range(CREATE_TRIES):
        try:
            return _create(keys, actor_id)
        except IntegrityError:
            continue  # another batch took some of these rewards: read what is left
    raise PayoutError("Other batches were taking these rewards; try again.")


def _create(keys, actor_id) -> Created:
    with write_transaction() as session:
        rows = session.execute(
            due_rewards(keys).order_by(Reward.id).with_for_update(of=Reward)
        ).all()
        groups: dict[tuple, list] = defaultdict(list)
        for row in rows:
            groups[(row.user_id, row.currency)].append(row)
        emails = _paypal_emails(session, {user_id for user_id, _ in groups})
        batch = PayoutBatch(created_by_id=actor_id)
        totals: dict[str, int] = defaultdict(int)
        for (user_id, currency), rewards in sorted(
            groups.items(), key=lambda group: str(group[0])
        ):
            net = sum(reward.amount_minor for reward in rewards)
            if user_id not in emails or net < max(minimum_for(currency), 1):
                continue
            if not totals:
                session.add(batch)
                session.flush()
            _add_line(session, batch.id, user_id, currency, emails[user_id], rewards)
            totals[currency] += net
        if not totals:
            raise PayoutError(
                "Nothing payable: no one selected has PayPal details and at least "
                "the minimum due (another batch may have just taken it)."
            )
        return Created(batch.id, sum(1 for _ in _lines(session, batch.id)), totals)


def _paypal_emails(session, user_ids: set) -> dict:
    if not user_ids:
        return {}
    return dict(
        session.execute(
            sa.select(PayoutAccount.user_id, PayoutAccount.paypal_email).where(
                PayoutAccount.user_id.in_(user_ids),
                PayoutAccount.method == PayoutMethod.PAYPAL,
            )
        ).all()
    )


def _add_line(session, batch_id, user_id, currency, email, rewards) -> None:
    line = PayoutLine(
        batch_id=batch_id,
        user_id=user_id,
        currency=currency,
        amount_minor=sum(reward.amount_minor for reward in rewards),
        method=PayoutMethod.PAYPAL,
        paypal_email=email,
    )
    session.add(line)
    session.flush()
    session.execute(
        sa.insert(PayoutItem),
        [
            {"line_id": line.id, "reward_id": r.id, "amount_minor": r.amount_minor}
            for r in rewards
        ],
    )


def _lines(session, batch_id: int, status: LineStatus | None = None):
    query = sa.select(PayoutLine).where(PayoutLine.batch_id == batch_id)
    if status is not None:
        query = query.where(PayoutLine.status == status)
    return session.scalars(query.order_by(PayoutLine.id)).all()


def _open_batch(session, batch_id: int) -> PayoutBatch:
    batch = session.get(PayoutBatch, batch_id, with_for_update=True)
    if batch is None:
        raise PayoutError(f"Payout batch #{batch_id} does not exist.")
    if batch.status != BatchStatus.OPEN:
        raise PayoutError(f"Payout batch #{batch_id} is {batch.status.value} already.")
    return batch


def clean_text(text: str, what: str, longest: int) -> str:
    """A reference or reason as typed: required, one line, at most ``longest``."""
    text = (text or "").strip()
    if not text:
        raise PayoutError(f"Give the {what}.")
    if has_control_characters(text) or len(text) > longest:
        raise PayoutError(
            f"The {what} must be one line of at most {longest} characters."
        )
    return text


def mark_paid(batch_id: int, *, actor_id, reference: str) -> int:
    """Mark a batch paid with the provider's reference: every reward of its open
    lines becomes paid, in one transaction; returns how many rewards."""
    reference = clean_text(reference, "payment's reference", 128)
    notices = Notices()
    with write_transaction() as session:
        batch = _open_batch(session, batch_id)
        lines = _lines(session, batch_id, LineStatus.OPEN)
        reward_ids = session.scalars(
            sa.select(PayoutItem.reward_id)
            .where(
                PayoutItem.line_id.in_([line.id for line in lines]),
                PayoutItem.released_at.is_(None),
            )
            .order_by(PayoutItem.reward_id)
        ).all()
        reason = f"paid in payout batch #{batch_id} ({reference})"
        for reward_id in reward_ids:
            problem = move(
                session,
                reward_id,
                RewardStatus.PAID,
                allowed=(RewardStatus.APPROVED,),
                actor_id=actor_id,
                reason=reason,
                notices=notices,
                by_payout=True,
            )
            if problem:  # nothing else moves a batched reward: refuse it all
                raise PayoutError(problem)
        for line in lines:
            line.status = LineStatus.PAID
            outbox.payout_paid(session, line, reference, _reward_ids(session, line))
        batch.status = BatchStatus.PAID
        batch.reference, batch.paid_by_id, batch.paid_at = reference, actor_id, utcnow()
    notices.send()
    return len(reward_ids)


def fail_line(line_id: int, *, actor_id, reason: str) -> int:
    """Take one line out of its open batch (the provider could not pay it): its
    rewards go back to what is due, each with the reason in its history; returns
    the batch's id."""
    reason = clean_text(reason, "reason", 300)
    with write_transaction() as session:
        batch_id = session.scalar(
            sa.select(PayoutLine.batch_id).where(PayoutLine.id == line_id)
        )
        if batch_id is None:
            raise PayoutError(f"Payout line #{line_id} does not exist.")
        batch = _open_batch(session, batch_id)
        line = session.get(PayoutLine, line_id, populate_existing=True)
        if line.status != LineStatus.OPEN:
            raise PayoutError(f"Payout line #{line_id} is {line.status.value} already.")
        line.status, line.failure_reason, line.failed_at = (
            LineStatus.FAILED,
            reason,
            utcnow(),
        )
        outbox.payout_failed(session, line, _reward_ids(session, line))
        _release(session, line, actor_id, f"payout batch #{batch_id} failed: {reason}")
        if not _lines(session, batch_id, LineStatus.OPEN):
            batch.status = BatchStatus.FAILED
    return batch_id


def _reward_ids(session, line: PayoutLine) -> list[int]:
    """The rewards a line holds (before it releases them)."""
    return list(
        session.scalars(
            sa.select(PayoutItem.reward_id).where(
                PayoutItem.line_id == line.id, PayoutItem.released_at.is_(None)
            )
        )
    )


def _release(session, line: PayoutLine, actor_id, reason: str) -> None:
    items = session.scalars(
        sa.select(PayoutItem).where(
            PayoutItem.line_id == line.id, PayoutItem.released_at.is_(None)
        )
    ).all()
    now = utcnow()
    for item in items:
        item.released_at = now
        # Same status, amount 0: the history says why the reward is due again.
        session.add(
            RewardEvent(
                reward_id=item.reward_id,
                from_status=RewardStatus.APPROVED,
                to_status=RewardStatus.APPROVED,
                amount_minor=0,
                currency=line.currency,
                actor_id=actor_id,
                reason=reason[:500],
            )
        )
