"""A batch's files: PayPal Payouts Web's CSV (one per currency) and a generic CSV.

PayPal's payment file has no header row; each row is, in this order: recipient
(the PayPal email), amount (a decimal with the currency's digits, "12.50"; "1250"
for JPY), currency (ISO 4217), customer ID (at most 30 characters, no spaces: the
line's reference), note to the recipient, and the recipient wallet ("PAYPAL").
A file holds one currency, as PayPal asks. Failed lines are left out of both files.
"""

import csv
import io

import sqlalchemy as sa

from referral_site.referrals.payouts.models import (
    LineStatus,
    PayoutItem,
    PayoutLine,
)
from referral_site.referrals.rewards.money import format_plain
from referral_site.referrals.storage.db import db

#: The generic file's header row.
GENERIC_HEADER = ["recipient", "amount", "currency", "reference", "reward_ids"]
#: What PayPal shows the recipient with the payment.
PAYPAL_NOTE = "Your referral rewards. Thank you!"


def line_reference(batch_id: int, line_id: int) -> str:
    """A line's reference, sent as PayPal's customer ID: "RB12-L345"."""
    return f"RB{batch_id}-L{line_id}"


def _payable_lines(batch_id: int, currency: str | None = None):
    query = sa.select(PayoutLine).where(
        PayoutLine.batch_id == batch_id, PayoutLine.status != LineStatus.FAILED
    )
    if currency is not None:
        query = query.where(PayoutLine.currency == currency)
    return db.session.scalars(query.order_by(PayoutLine.id)).all()


def currencies(batch_id: int) -> list[str]:
    """The currencies of a batch's lines that are paid or being paid."""
    return sorted({line.currency for line in _payable_lines(batch_id)})


def _csv(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def paypal_csv(batch_id: int, currency: str) -> str:
    """PayPal Payouts Web's payment file of a batch's lines in one currency."""
    return _csv(
        [
            [
                line.paypal_email,
                format_plain(line.amount_minor, line.currency),
                line.currency,
                line_reference(batch_id, line.id),
                PAYPAL_NOTE,
                "PAYPAL",
            ]
            for line in _payable_lines(batch_id, currency)
        ]
    )


def generic_csv(batch_id: int) -> str:
    """Every line of a batch with its rewards, for any provider or the books."""
    lines = _payable_lines(batch_id)
    rewards: dict[int, list[str]] = {line.id: [] for line in lines}
    items = db.session.execute(
        sa.select(PayoutItem.line_id, PayoutItem.reward_id)
        .where(PayoutItem.line_id.in_(list(rewards)))
        .order_by(PayoutItem.reward_id)
    )
    for line_id, reward_id in items:
        rewards[line_id].append(str(reward_id))
    rows = [GENERIC_HEADER] + [
        [
            line.paypal_email,
            format_plain(line.amount_minor, line.currency),
            line.currency,
            line_reference(batch_id, line.id),
            " ".join(rewards[line.id]),
        ]
        for line in lines
    ]
    return _csv(rows)
