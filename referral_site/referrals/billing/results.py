"""What handling one Stripe event came to."""

from dataclasses import dataclass

from referral_site.referrals.billing.models import Outcome
from referral_site.referrals.rewards.conversions import MAX_AMOUNT


@dataclass(frozen=True)
class Result:
    """An event's outcome, why, and what it was tied to."""

    outcome: Outcome
    reason: str = ""
    user_id: object = None
    conversion_id: int | None = None
    #: The payment a waiting refund or dispute needs (pi_... or ch_...).
    payment_key: str | None = None
    customer_id: str | None = None
    #: Stripe ids that paid for conversion_id, recorded with the outcome.
    payment_keys: tuple[str, ...] = ()
    #: The outcome was recorded by the handler, in its own transaction.
    finished: bool = False


class Malformed(ValueError):
    """The event's object lacks what its type needs; the message says what."""


def text(value: object, limit: int = 100) -> str:
    """A value from an event, safe to show and to store in a reason."""
    shown = "".join(ch for ch in str(value) if ch.isprintable())
    return shown[:limit]


def amount_of(obj: dict, field: str) -> int:
    """A whole, non-negative amount in minor units from a Stripe object."""
    value = obj.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Malformed(f"{field} must be a whole amount in minor units.")
    if value > MAX_AMOUNT:
        raise Malformed(f"{field} is above {MAX_AMOUNT} minor units.")
    return value
