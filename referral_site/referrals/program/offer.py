"""The offer in plain words, derived from the program's rules (or its own wording).

"Give your friends $5.00 off, get $10.00 for each friend's first purchase": what a
referrer reads on /referrals, and what an invited visitor reads on the landing and
signup pages ("Ann invited you: get $5.00 off your first purchase").
"""

from dataclasses import dataclass

from referral_site.referrals.program.settings import Program
from referral_site.referrals.rewards.money import format_money
from referral_site.referrals.rewards.rules import Rule, Value
from referral_site.referrals.storage.models import RewardKind

#: Triggers that reward a friend's action, in the order the offer tells them.
_ACTIONS = ("signup", "first_conversion", "every_conversion")


@dataclass(frozen=True)
class Milestone:
    """Where a referrer stands on the way to the next milestone bonus."""

    qualified: int
    target: int
    bonus: str

    @property
    def remaining(self) -> int:
        return self.target - self.qualified

    @property
    def percent(self) -> int:
        """How far along, 0-100, for a progress bar."""
        return min(100, round(100 * self.qualified / self.target))


def referrer_offer(program: Program) -> str:
    """The offer as told to a referrer."""
    if program.referrer_offer:
        return program.referrer_offer
    gives, gets = [], []
    for rule in _action_rules(program):
        if rule.referred_value is not None:
            gives.append(_friend_gets(rule, you=False))
        if rule.referrer_value is not None:
            gets.append(_your_value(rule) + _referrer_event(rule))
    bonuses = [_milestone_phrase(rule) for rule in _milestone_rules(program)]
    if not gives and not gets and not bonuses:
        return "Share your link with your friends."
    parts = []
    if gives:
        parts.append("Give your friends " + _join(gives))
    if gets:
        parts.append(("get " if parts else "Get ") + _join(gets))
    sentence = ", ".join(parts) if parts else ""
    if bonuses:
        bonus = _join(bonuses)
        sentence = f"{sentence}, plus {bonus}" if sentence else "Earn " + bonus
    return sentence + "."


def referred_offer(program: Program) -> str | None:
    """What an invited person gets, or None when the program gives them nothing."""
    if program.referred_offer:
        return program.referred_offer
    gets = [
        _friend_gets(rule, you=True)
        for rule in _action_rules(program)
        if rule.referred_value is not None
    ]
    return ("Get " + _join(gets) + ".") if gets else None


def next_milestone(program: Program, qualified: int) -> Milestone | None:
    """The next milestone bonus within reach of a referrer with this many friends."""
    ahead = [
        (target, rule)
        for rule in _milestone_rules(program)
        for target in rule.milestones
        if target > qualified
    ]
    if not ahead:
        return None
    target, rule = min(ahead, key=lambda pair: pair[0])
    bonus = format_money(rule.referrer_value.amount, rule.currency)
    return Milestone(qualified=qualified, target=target, bonus=bonus)


def _action_rules(program: Program) -> list[Rule]:
    rules = [rule for rule in program.rules if rule.trigger in _ACTIONS]
    return sorted(rules, key=lambda rule: _ACTIONS.index(rule.trigger))


def _milestone_rules(program: Program) -> list[Rule]:
    return [rule for rule in program.rules if rule.trigger == "milestone"]


def _amount(value: Value, currency: str) -> str:
    if value.amount is not None:
        return format_money(value.amount, currency)
    return f"{value.percent.normalize():f}%"


def _friend_value(rule: Rule) -> str:
    value = _amount(rule.referred_value, rule.currency)
    if rule.referred_value.percent is not None:
        return f"{value} back"
    return value if rule.kind == RewardKind.CASH else f"{value} off"


def _friend_gets(rule: Rule, *, you: bool) -> str:
    """ "$5.00 off their first purchase", "$5.00 when you sign up"..."""
    value, event = _friend_value(rule), _friend_event(rule, you=you)
    if value.endswith(" off") and event.startswith(" on "):
        return value + event[3:]
    return value + event


def _your_value(rule: Rule) -> str:
    value = _amount(rule.referrer_value, rule.currency)
    if rule.referrer_value.percent is not None:
        return f"{value} of "
    suffix = {RewardKind.CREDIT: " credit", RewardKind.COUPON: " in coupons"}
    return value + suffix.get(rule.kind, "") + " for "


def _purchase(rule: Rule) -> str:
    kinds = sorted(rule.conversion_kinds or ())
    if not kinds or "purchase" in kinds:
        return "purchase"
    return " or ".join(kind.replace("_", " ") for kind in kinds)


def _referrer_event(rule: Rule) -> str:
    if rule.trigger == "signup":
        return "each friend who signs up"
    if rule.trigger == "first_conversion":
        return f"each friend's first {_purchase(rule)}"
    return f"every {_purchase(rule)} your friends make"


def _friend_event(rule: Rule, *, you: bool) -> str:
    whose = "your" if you else "their"
    if rule.trigger == "signup":
        return " when they sign up" if not you else " when you sign up"
    if rule.trigger == "first_conversion":
        return f" on {whose} first {_purchase(rule)}"
    return f" on every {_purchase(rule)}"


def _milestone_phrase(rule: Rule) -> str:
    bonus = format_money(rule.referrer_value.amount, rule.currency)
    counts = ", ".join(str(n) for n in rule.milestones)
    return f"a {bonus} bonus at {counts} friends who bought"


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]
