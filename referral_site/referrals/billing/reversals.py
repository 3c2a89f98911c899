"""Money going back through Stripe: refunds, disputes and ended subscriptions.

Each handler finds the conversion by the payment's ids; when the payment has not
arrived yet, the event waits (outcome "waiting", keyed by the payment) and is
handled again when it does.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from referral_site.referrals.billing import links
from referral_site.referrals.billing.models import (
    BillingDispute,
    BillingRefund,
    Outcome,
)
from referral_site.referrals.billing.results import Malformed, Result, amount_of, text
from referral_site.referrals.rewards import settlement
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.transactions import write_transaction

#: Refund statuses whose money left (or is leaving) the account.
COUNTED = ("succeeded", "pending", "requires_action")
#: How a dispute that ends well closes.
WON = ("won", "warning_closed")


def charge_refunded(obj: dict, event: dict, linked_user=None) -> Result:
    """A charge refunded in part or in full (amount_refunded is the total)."""
    if obj.get("object") != "charge":
        raise Malformed("data.object is not a charge.")
    keys = links.ids(obj.get("payment_intent"), obj.get("id"), obj.get("invoice"))
    conversion = links.conversion_for(keys)
    if conversion is None:
        return _waiting(keys)
    links.remember_payment(conversion.id, keys)
    refunds = (obj.get("refunds") or {}).get("data") or []
    for refund in refunds if isinstance(refunds, list) else []:
        if isinstance(refund, dict) and refund.get("object") == "refund":
            _save_refund(refund, conversion.id)
    charged = amount_of(obj, "amount") or conversion.amount_minor
    refunded = min(amount_of(obj, "amount_refunded"), charged)
    # The charge's total, in the conversion's units (they differ only when the
    # conversion was not the whole charge).
    share = refunded * conversion.amount_minor // charged if charged else 0
    if refunded >= charged:
        share = conversion.amount_minor
    return _refund(conversion, max(share, _refunds_total(conversion.id)))


def refund_changed(obj: dict, event: dict, linked_user=None) -> Result:
    """A refund created or updated (its status may change: failed, canceled)."""
    if obj.get("object") != "refund":
        raise Malformed("data.object is not a refund.")
    if not links.ids(obj.get("id")):
        raise Malformed("the refund has no id.")
    amount_of(obj, "amount")
    keys = links.ids(obj.get("payment_intent"), obj.get("charge"))
    conversion = links.conversion_for(keys)
    if conversion is None:
        return _waiting(keys)
    _save_refund(obj, conversion.id)
    result = _refund(conversion, _refunds_total(conversion.id))
    if obj.get("status") not in COUNTED:
        reason = "refund " + text(obj.get("status")) + ": nothing taken back"
        return Result(Outcome.APPLIED, reason, conversion_id=conversion.id)
    return result


def dispute_created(obj: dict, event: dict, linked_user=None) -> Result:
    """A dispute opened: the conversion's rewards are held until it closes."""
    conversion, dispute_id, keys = _dispute_parts(obj)
    if conversion is None:
        return _waiting(keys)
    reason = text(obj.get("reason") or "unspecified", 60)
    if not _save_dispute(dispute_id, conversion.id, obj, closed=False):
        return Result(
            Outcome.IGNORED, "the dispute is closed already", None, conversion.id
        )
    settlement.hold(conversion.id, f"payment disputed ({reason})")
    if not _open_disputes(conversion.id):  # closed by a racing delivery meanwhile
        settlement.release(conversion.id)
    return Result(
        Outcome.APPLIED, f"rewards held: disputed ({reason})", None, conversion.id
    )


def dispute_closed(obj: dict, event: dict, linked_user=None) -> Result:
    """A dispute closed: won, the rewards go on; lost, it is a full refund."""
    conversion, dispute_id, keys = _dispute_parts(obj)
    if conversion is None:
        return _waiting(keys)
    status = obj.get("status")
    _save_dispute(dispute_id, conversion.id, obj, closed=True)
    if status == "lost":
        settlement.refund_share(
            conversion.id, conversion.amount_minor, reason="payment dispute lost"
        )
    if not _open_disputes(conversion.id):
        settlement.release(conversion.id)
    outcome = "lost: reversed like a full refund" if status == "lost" else "won"
    if status not in WON and status != "lost":
        outcome = f"closed as {text(status)}"
    return Result(Outcome.APPLIED, f"dispute {outcome}", conversion_id=conversion.id)


def subscription_deleted(obj: dict, event: dict, linked_user=None) -> Result:
    """A subscription ended: its later renewals earn nothing."""
    if obj.get("object") != "subscription" or not links.ids(obj.get("id")):
        raise Malformed("data.object is not a subscription.")
    ended = obj.get("ended_at") or obj.get("canceled_at") or event["created"]
    if not isinstance(ended, int) or isinstance(ended, bool) or not 0 < ended < 2**34:
        ended = event["created"]
    links.save_subscription(obj["id"], canceled_at=datetime.fromtimestamp(ended, UTC))
    return Result(Outcome.APPLIED, "subscription ended: no further renewal rewards")


def _waiting(keys: list[str]) -> Result:
    """Wait for the payment (its payment intent first: every payment has one)."""
    if not keys:
        raise Malformed("no payment id (charge or payment_intent) to apply it to.")
    return Result(
        Outcome.WAITING, "its payment has not arrived yet", payment_key=keys[0]
    )


def _refund(conversion, refunded: int) -> Result:
    changed = settlement.refund_share(
        conversion.id, refunded, reason=f"refunded {refunded} of conversion"
    )
    done = "refunded in full" if refunded >= conversion.amount_minor else "partial"
    what = f"{done}: {refunded} of {conversion.amount_minor}"
    if not changed:
        what += " (applied before)"
    return Result(Outcome.APPLIED, what, conversion_id=conversion.id)


def _save_refund(refund: dict, conversion_id: int) -> None:
    refund_id = links.ids(refund.get("id"))
    if not refund_id:
        return
    values = dict(
        amount_minor=amount_of(refund, "amount"),
        status=text(refund.get("status") or "succeeded", 32),
    )
    with write_transaction() as session:
        row = session.get(BillingRefund, refund_id[0], with_for_update=True)
        if row is not None:
            row.status = values["status"]
            return
        try:
            with session.begin_nested():
                session.add(
                    BillingRefund(
                        refund_id=refund_id[0], conversion_id=conversion_id, **values
                    )
                )
        except IntegrityError:
            pass  # saved by a racing delivery


def _refunds_total(conversion_id: int) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(BillingRefund.amount_minor), 0))
            .where(BillingRefund.conversion_id == conversion_id)
            .where(BillingRefund.status.in_(COUNTED))
        )
    )


def _dispute_parts(obj: dict):
    if obj.get("object") != "dispute" or not links.ids(obj.get("id")):
        raise Malformed("data.object is not a dispute.")
    keys = links.ids(obj.get("payment_intent"), obj.get("charge"))
    return links.conversion_for(keys), obj["id"], keys


def _save_dispute(dispute_id: str, conversion_id: int, obj: dict, *, closed) -> bool:
    """Store the dispute's state; False when a closed one is told it opened."""
    status = text(obj.get("status") or "", 32)
    with write_transaction() as session:
        row = session.get(BillingDispute, dispute_id, with_for_update=True)
        if row is None:
            try:
                with session.begin_nested():
                    row = BillingDispute(
                        dispute_id=dispute_id,
                        conversion_id=conversion_id,
                        status=status,
                        reason=text(obj.get("reason") or "", 100),
                        closed=closed,
                    )
                    session.add(row)
                return True
            except IntegrityError:
                row = session.get(BillingDispute, dispute_id, with_for_update=True)
        if row.closed and not closed:
            return False
        row.status, row.closed = status, row.closed or closed
        return True


def _open_disputes(conversion_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(BillingDispute)
        .where(BillingDispute.conversion_id == conversion_id, ~BillingDispute.closed)
    )
