"""What a payment's later life does to a conversion: partial refunds and holds.

Each call is one transaction and is safe to repeat or to race: a refund is given as
the cumulative refunded amount and applied by a conditional UPDATE that only ever
raises it, and a hold is a column set or cleared.
"""

import sqlalchemy as sa

from referral_site.referrals import signals
from referral_site.referrals.rewards import conversions
from referral_site.referrals.rewards.lifecycle import Notices
from referral_site.referrals.rewards.refunds import claw_back_share
from referral_site.referrals.storage.models import Conversion, utcnow
from referral_site.referrals.storage.transactions import write_transaction


def refund_share(conversion_id: int, refunded: int, *, reason: str) -> bool:
    """Record that ``refunded`` minor units of a conversion were refunded in all.

    Rewards lose the refunded share (see rewards/refunds.py); reaching the whole
    amount makes it a full refund. False when nothing changed (a replay, or a
    smaller total than the one already applied).
    """
    notices = Notices()
    with write_transaction() as session:
        amount = session.scalar(
            sa.select(Conversion.amount_minor).where(Conversion.id == conversion_id)
        )
        if amount is None:
            raise conversions.UnknownConversion("No conversion with this id.")
        refunded = min(max(refunded, 0), amount)
        full = refunded >= amount
        # Only ever raises the total: the racing or replayed copy changes no row.
        changed = session.execute(
            sa.update(Conversion)
            .where(
                Conversion.id == conversion_id,
                Conversion.refunded_minor < refunded,
                Conversion.refunded_at.is_(None),
            )
            .values(refunded_minor=refunded, refunded_at=utcnow() if full else None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed:
            claw_back_share(
                session,
                conversion_id,
                refunded=refunded,
                amount=max(amount, 1),
                actor_id=None,
                reason=reason[:500],
                notices=notices,
            )
            if full:  # a quick full refund is a fraud signal, as from the API
                conversions._score_refund(session, conversion_id, notices)
            result = conversions._result(session, conversion_id, created=False)
    if changed and full:
        notices.add(signals.conversion_refunded, conversion=result)
    notices.send()
    return bool(changed)


def hold(conversion_id: int, reason: str) -> None:
    """Hold a conversion's rewards: no approval, no payment until released."""
    _set_hold(conversion_id, reason[:200])


def release(conversion_id: int) -> None:
    """Let a held conversion's rewards go on where they were."""
    _set_hold(conversion_id, None)


def _set_hold(conversion_id: int, reason: str | None) -> None:
    with write_transaction() as session:
        session.execute(
            sa.update(Conversion)
            .where(Conversion.id == conversion_id)
            .values(held_reason=reason)
            .execution_options(synchronize_session=False)
        )
