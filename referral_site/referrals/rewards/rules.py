"""Reward rules: parsed and checked once from configuration, applied by grants.py.

A rule is a mapping (or a JSON list of them in ``REFERRALS_REWARD_RULES``);
docs/rewards.md documents every field. An invalid rule stops the app at startup
with a message naming the rule and the field, rather than paying wrongly later.
"""

import json
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from referral_site.referrals.rewards.currencies import is_currency
from referral_site.referrals.storage.models import RewardKind

TRIGGERS = ("signup", "first_conversion", "every_conversion", "milestone")
RECIPIENTS = ("referrer", "referred", "both")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_FIELDS = {
    "name", "trigger", "recipient", "kind", "amount", "percent", "referred_amount",
    "referred_percent", "currency", "conversion_kinds", "milestones", "monthly_cap",
    "lifetime_cap", "hold_days", "review", "verified_email", "months", "customer_cap",
    "fixed_clawback",
}  # fmt: skip
CLAWBACKS = ("none", "full")

#: The program in force when REFERRALS_REWARD_RULES is empty: on the referred user's
#: first conversion, 10.00 credit to the referrer and 5.00 to the referred user.
DEFAULT_RULES = [
    {
        "name": "first-conversion",
        "trigger": "first_conversion",
        "recipient": "both",
        "kind": "credit",
        "amount": 1000,
        "referred_amount": 500,
    }
]


class RuleConfigError(ValueError):
    """REFERRALS_REWARD_RULES is not a valid list of rules.

    ``rule`` and ``field`` name what is wrong, when one rule's field is (a form
    marks that field).
    """

    def __init__(self, message: str, *, rule: str | None = None, field: str = ""):
        super().__init__(message)
        self.rule = rule
        self.field = field


@dataclass(frozen=True)
class Value:
    """A fixed amount in minor units, or a percentage of the conversion amount."""

    amount: int | None = None
    percent: Decimal | None = None

    def of(self, conversion_amount: int | None) -> int:
        """The reward in minor units; percentages round half up to a minor unit."""
        if self.amount is not None:
            return self.amount
        if conversion_amount is None:
            return 0
        exact = Decimal(conversion_amount) * self.percent / 100
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Rule:
    """One configured rule; see docs/rewards.md for the meaning of each field."""

    name: str
    trigger: str
    kind: RewardKind
    currency: str
    hold_days: int
    review: bool
    referrer_value: Value | None
    referred_value: Value | None
    conversion_kinds: frozenset[str] | None = None
    milestones: tuple[int, ...] = ()
    monthly_cap: int | None = None
    lifetime_cap: int | None = None
    #: Approved only once the recipient's email address is verified.
    verified_email: bool = False
    #: Fires only within this many months of the referred user's first conversion
    #: (renewals "for the first N months"); None: for as long as they pay.
    months: int | None = None
    #: Most this rule pays one referrer for one referred customer, in minor units.
    customer_cap: int | None = None
    #: What a partial refund does to a fixed reward: "none" keeps it, "full"
    #: takes it all back (percentage rewards lose the refunded share).
    fixed_clawback: str = "none"

    def matches(self, conversion_kind: str) -> bool:
        """Whether a conversion of this kind can fire the rule."""
        return self.conversion_kinds is None or conversion_kind in self.conversion_kinds


def parse_rules(raw: object, *, default_currency: str, hold_days: int) -> list[Rule]:
    """Turn the configured rules (a list, a JSON string, or empty) into Rules."""
    if raw in (None, "", []):
        raw = DEFAULT_RULES
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as error:
            raise RuleConfigError(
                f"REFERRALS_REWARD_RULES is not JSON: {error}"
            ) from None
    if not isinstance(raw, list | tuple):
        raise RuleConfigError("REFERRALS_REWARD_RULES must be a list of rules.")
    rules = [_parse_rule(item, default_currency, hold_days) for item in raw]
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        raise RuleConfigError("Reward rule names must be unique.")
    return rules


def _parse_rule(item: object, default_currency: str, hold_days: int) -> Rule:
    if not isinstance(item, dict):
        raise RuleConfigError("Each reward rule must be a mapping.")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name) or name == "adjustment":
        raise RuleConfigError(
            f"Reward rule name {name!r}: use 1-64 lower-case letters, digits, '_-.'.",
            rule=name if isinstance(name, str) else None,
            field="name",
        )

    def fail(field: str, message: str):
        raise RuleConfigError(
            f"Reward rule {name!r}, {field}: {message}", rule=name, field=field
        )

    if unknown := set(item) - _FIELDS:
        fail(", ".join(sorted(unknown)), "unknown field")
    trigger = item.get("trigger")
    if trigger not in TRIGGERS:
        fail("trigger", f"one of {', '.join(TRIGGERS)}")
    recipient = item.get("recipient", "referrer")
    if recipient not in RECIPIENTS:
        fail("recipient", f"one of {', '.join(RECIPIENTS)}")
    if trigger == "milestone" and recipient != "referrer":
        fail("recipient", "milestone bonuses go to the referrer")
    try:
        kind = RewardKind(item.get("kind", "credit"))
    except ValueError:
        fail("kind", "one of credit, cash, coupon")
    currency = item.get("currency", default_currency)
    if not is_currency(currency):
        fail("currency", "an ISO 4217 code such as USD")
    referrer_value = referred_value = None
    if recipient in ("referrer", "both"):
        referrer_value = _value(item, "amount", "percent", trigger, fail)
    if recipient == "referred":
        referred_value = _value(item, "amount", "percent", trigger, fail)
    if recipient == "both":
        referred_value = (
            _value(item, "referred_amount", "referred_percent", trigger, fail)
            if "referred_amount" in item or "referred_percent" in item
            else referrer_value
        )
    milestones = tuple(sorted(set(item.get("milestones") or ())))
    if trigger == "milestone" and not milestones:
        fail("milestones", "list the qualified-referral counts, e.g. [5, 10]")
    if not all(_positive_int(n) for n in milestones):
        fail("milestones", "positive whole numbers")
    kinds = item.get("conversion_kinds")
    if kinds is not None and (
        not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds)
    ):
        fail("conversion_kinds", "a list of conversion kinds")
    for cap in ("monthly_cap", "lifetime_cap", "customer_cap"):
        if item.get(cap) is not None and not _positive_int(item[cap]):
            fail(cap, "a positive amount in minor units")
    if item.get("months") is not None and not _positive_int(item["months"]):
        fail("months", "a positive whole number of months")
    rule_hold = item.get("hold_days", hold_days)
    if not isinstance(rule_hold, int) or isinstance(rule_hold, bool) or rule_hold < 0:
        fail("hold_days", "a whole number of days, 0 or more")
    review = item.get("review", False)
    if not isinstance(review, bool):
        fail("review", "true or false")
    verified_email = item.get("verified_email", False)
    if not isinstance(verified_email, bool):
        fail("verified_email", "true or false")
    if item.get("fixed_clawback", "none") not in CLAWBACKS:
        fail("fixed_clawback", "none or full")
    if trigger not in ("every_conversion", "first_conversion") and "months" in item:
        fail("months", "only conversion rules count months")
    return Rule(
        name=name,
        trigger=trigger,
        kind=kind,
        currency=currency,
        hold_days=rule_hold,
        review=review,
        referrer_value=referrer_value,
        referred_value=referred_value,
        conversion_kinds=frozenset(kinds) if kinds is not None else None,
        milestones=milestones,
        monthly_cap=item.get("monthly_cap"),
        lifetime_cap=item.get("lifetime_cap"),
        verified_email=verified_email,
        months=item.get("months"),
        customer_cap=item.get("customer_cap"),
        fixed_clawback=item.get("fixed_clawback", "none"),
    )


def _value(item: dict, amount_key: str, percent_key: str, trigger: str, fail) -> Value:
    has_amount, has_percent = amount_key in item, percent_key in item
    if has_amount == has_percent:
        fail(amount_key, f"give exactly one of {amount_key} or {percent_key}")
    if has_amount:
        if not _positive_int(item[amount_key]):
            fail(amount_key, "a positive amount in minor units (1000 = 10.00)")
        return Value(amount=item[amount_key])
    if trigger in ("signup", "milestone"):
        fail(percent_key, f"a {trigger} has no amount to take a percentage of")
    try:
        percent = Decimal(str(item[percent_key]))
    except InvalidOperation:
        percent = Decimal(-1)
    if isinstance(item[percent_key], bool) or not 0 < percent <= 100:
        fail(percent_key, "a number above 0 and at most 100")
    return Value(percent=percent)


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
