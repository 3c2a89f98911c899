"""The payout program: the minimum payout per currency and the payout schedule."""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from flask import Flask, current_app

from referral_site.referrals.rewards.currencies import is_currency
from referral_site.referrals.storage.models import RewardKind

#: Rewards of these kinds are paid out in batches.
PAYOUT_KINDS = (RewardKind.CASH,)
#: Rewards of these kinds are store credit, applied by the host.
CREDIT_KINDS = (RewardKind.CREDIT,)


class PayoutConfigError(ValueError):
    """REFERRALS_PAYOUT_MINIMUM or REFERRALS_PAYOUT_DAY is malformed."""


def parse_minimum(raw: object) -> dict[str, int]:
    """The minimum payout per currency, in minor units, from a mapping or its JSON."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise PayoutConfigError(
                'REFERRALS_PAYOUT_MINIMUM: JSON such as {"USD": 5000}.'
            ) from None
    if not isinstance(raw, Mapping):
        raise PayoutConfigError("REFERRALS_PAYOUT_MINIMUM: a mapping of currencies.")
    minimum = {}
    for currency, amount in raw.items():
        if not is_currency(currency):
            raise PayoutConfigError(
                f"REFERRALS_PAYOUT_MINIMUM: {currency!r} is not ISO 4217."
            )
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise PayoutConfigError(
                f"REFERRALS_PAYOUT_MINIMUM: {currency} needs whole minor units >= 0."
            )
        minimum[currency] = amount
    return minimum


def init_app(app: Flask) -> None:
    """Check the payout settings once; a bad one stops the app at startup."""
    parse_minimum(app.config["REFERRALS_PAYOUT_MINIMUM"])
    day = app.config["REFERRALS_PAYOUT_DAY"]
    if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 28:
        raise PayoutConfigError("REFERRALS_PAYOUT_DAY: a day of the month, 1 to 28.")


def minimum_for(currency: str) -> int:
    """The smallest amount paid out in this currency (minor units; 0: any)."""
    return parse_minimum(current_app.config["REFERRALS_PAYOUT_MINIMUM"]).get(
        currency, 0
    )


@dataclass(frozen=True)
class Schedule:
    """When payouts are made: monthly on a day; the next one from a date."""

    day: int
    next_date: date

    @property
    def wording(self) -> str:
        suffix = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd"}
        return f"monthly, on the {self.day}{suffix.get(self.day, 'th')}"


def schedule(today: date) -> Schedule:
    """The payout schedule and the next payout date on or after ``today``."""
    day = current_app.config["REFERRALS_PAYOUT_DAY"]
    if today.day <= day:
        return Schedule(day, today.replace(day=day))
    month = today.month % 12 + 1
    year = today.year + (today.month == 12)
    return Schedule(day, date(year, month, day))
