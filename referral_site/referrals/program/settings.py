"""A program: its parsed rules and settings, built from configuration or a version.

Both ways in are checked by the same code: the rules by rewards/rules.py
(``parse_rules``, as REFERRALS_REWARD_RULES always was), the other settings here.
A bad value is a :class:`ProgramInvalid` naming the field, never a half-saved program.
"""

import json
from dataclasses import dataclass, field, replace
from datetime import datetime

from flask import Flask

from referral_site.referrals.program.models import ATTRIBUTION_MODELS, ProgramVersion
from referral_site.referrals.rewards.rules import (
    DEFAULT_RULES,
    Rule,
    RuleConfigError,
    parse_rules,
)

#: Longest attribution window a program may set (ten years).
MAX_WINDOW_DAYS = 3650
#: Longest hold a program may set.
MAX_HOLD_DAYS = 3650
#: Longest offer wording, in characters (the columns' size).
MAX_OFFER_LENGTH = 300
#: The keys of a program as exported and imported (JSON).
KEYS = (
    "rules",
    "hold_days",
    "attribution_window_days",
    "attribution_model",
    "referrer_offer",
    "referred_offer",
)


class ProgramInvalid(ValueError):
    """A program's settings are not valid; ``errors`` maps each field to a message.

    ``rule_error`` is the rules' error, naming the rule and its field when it can.
    """

    def __init__(
        self, errors: dict[str, str], rule_error: RuleConfigError | None = None
    ) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
        self.rule_error = rule_error


@dataclass(frozen=True)
class Program:
    """Everything that decides who earns what, and how the offer is told."""

    #: 0 for the configuration's program; otherwise the saved version's number.
    version: int
    rules: tuple[Rule, ...]
    #: The rules as given (JSON-able mappings), for export and the settings form.
    raw_rules: tuple[dict, ...]
    hold_days: int
    attribution_window_days: int
    attribution_model: str
    referrer_offer: str = ""
    referred_offer: str = ""
    saved_at: datetime | None = None
    saved_by_id: object | None = None
    changes: tuple[str, ...] = field(default=())

    @property
    def from_config(self) -> bool:
        """Whether this is the configuration's program (no version saved yet)."""
        return self.version == 0

    def rule_named(self, name: str) -> Rule | None:
        """This program's rule of that name, or None."""
        return next((rule for rule in self.rules if rule.name == name), None)

    def as_data(self) -> dict:
        """The program as JSON-able data: what export writes and import reads."""
        return {
            "rules": [dict(rule) for rule in self.raw_rules],
            "hold_days": self.hold_days,
            "attribution_window_days": self.attribution_window_days,
            "attribution_model": self.attribution_model,
            "referrer_offer": self.referrer_offer,
            "referred_offer": self.referred_offer,
        }


def from_config(app: Flask) -> Program:
    """The program the configuration describes; raises RuleConfigError if invalid."""
    config = app.config
    raw = config["REFERRALS_REWARD_RULES"]
    hold_days = config["REFERRALS_REWARD_HOLD_DAYS"]
    rules = parse_rules(
        raw,
        default_currency=config["REFERRALS_DEFAULT_CURRENCY"],
        hold_days=hold_days,
    )
    if raw in (None, "", []):
        raw = DEFAULT_RULES
    elif isinstance(raw, str):
        raw = json.loads(raw)
    return Program(
        version=0,
        rules=tuple(rules),
        raw_rules=tuple(dict(item) for item in raw),
        hold_days=hold_days,
        attribution_window_days=config["REFERRALS_ATTRIBUTION_WINDOW_DAYS"],
        attribution_model=config["REFERRALS_ATTRIBUTION_MODEL"],
    )


def from_version(row: ProgramVersion, *, default_currency: str) -> Program:
    """The program a saved version describes (it was checked when saved)."""
    data = {key: getattr(row, key) for key in KEYS if key != "rules"}
    data["rules"] = json.loads(row.rules)
    program = build(data, version=row.id, default_currency=default_currency)
    return replace(
        program,
        saved_at=row.created_at,
        saved_by_id=row.created_by_id,
        changes=tuple(line for line in (row.changes or "").splitlines() if line),
    )


def build(data: object, *, version: int, default_currency: str) -> Program:
    """Check a program given as data (a form's or an imported file's) and build it.

    Raises ProgramInvalid with a message per field. An empty rule list is a
    program that grants nothing (unlike an empty REFERRALS_REWARD_RULES, which
    means the default program).
    """
    if not isinstance(data, dict):
        raise ProgramInvalid({"program": "a JSON object with " + ", ".join(KEYS)})
    errors: dict[str, str] = {}
    if unknown := sorted(set(data) - set(KEYS)):
        errors["program"] = f"unknown field {', '.join(unknown)}"
    hold_days = _whole_number(data.get("hold_days"), 0, MAX_HOLD_DAYS)
    if hold_days is None:
        errors["hold_days"] = f"a whole number of days from 0 to {MAX_HOLD_DAYS}"
    window = _whole_number(data.get("attribution_window_days"), 1, MAX_WINDOW_DAYS)
    if window is None:
        errors["attribution_window_days"] = (
            f"a whole number of days from 1 to {MAX_WINDOW_DAYS}"
        )
    model = data.get("attribution_model")
    if model not in ATTRIBUTION_MODELS:
        errors["attribution_model"] = "one of " + ", ".join(ATTRIBUTION_MODELS)
    offers = {}
    for key in ("referrer_offer", "referred_offer"):
        text = data.get(key) or ""
        if not isinstance(text, str) or len(text.strip()) > MAX_OFFER_LENGTH:
            errors[key] = f"text of at most {MAX_OFFER_LENGTH} characters"
        else:
            offers[key] = text.strip()
    raw = data.get("rules")
    rules: list[Rule] = []
    rule_error = None
    if not isinstance(raw, list):
        errors["rules"] = "a list of rules"
    elif raw:
        try:
            rules = parse_rules(
                raw, default_currency=default_currency, hold_days=hold_days or 0
            )
        except RuleConfigError as error:
            errors["rules"] = str(error).replace("REFERRALS_REWARD_RULES", "Rules")
            rule_error = error
    if errors:
        raise ProgramInvalid(errors, rule_error)
    return Program(
        version=version,
        rules=tuple(rules),
        raw_rules=tuple(dict(item) for item in raw),
        hold_days=hold_days,
        attribution_window_days=window,
        attribution_model=model,
        **offers,
    )


def _whole_number(value: object, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if low <= value <= high else None
