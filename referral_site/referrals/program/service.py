"""Saving, exporting and importing the program; its history of versions.

A save writes version n + 1 of a program based on version n, in one transaction;
the primary key makes a concurrent save of another n + 1 fail, so the admin who
saved second is told the program changed meanwhile, and nothing is half-written.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from referral_site.referrals.program import settings
from referral_site.referrals.program.cache import program_cache
from referral_site.referrals.program.models import ProgramVersion
from referral_site.referrals.program.settings import Program, ProgramInvalid
from referral_site.referrals.rewards.lifecycle import unverifiable_message
from referral_site.referrals.rewards.money import format_money
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.transactions import write_transaction
from referral_site.referrals.users import user_sql

#: The program's settings besides its rules, as the settings form names them.
FORM_KEYS = (
    "hold_days",
    "attribution_window_days",
    "attribution_model",
    "referrer_offer",
    "referred_offer",
)
#: Most bytes an imported program file may have.
MAX_IMPORT_BYTES = 200_000


class ProgramConflict(Exception):
    """Someone saved a newer version since the form was opened."""


class NothingChanged(Exception):
    """The submitted program is the one in force."""


def _refuse_unverifiable_rules(program: Program) -> None:
    """A rule requiring a verified email needs the host to tell who is verified."""
    if current_app.extensions["referrals"].users.email_verified is not None:
        return
    for rule in program.rules:
        if rule.verified_email:
            raise ProgramInvalid({"rules": unverifiable_message(rule.name)})


def save_program(data: dict, *, based_on: int | None, actor_id) -> Program:
    """Check and save a new version of the program; raises ProgramInvalid,
    ProgramConflict or NothingChanged (nothing written in each case)."""
    cache = program_cache()
    current = cache.in_force()
    if based_on is None:
        based_on = current.version  # an import from a script: on top of the latest
    if current.version != based_on:
        raise ProgramConflict(_conflict_message(current.version))
    program = settings.build(
        data,
        version=based_on + 1,
        default_currency=current_app.config["REFERRALS_DEFAULT_CURRENCY"],
    )
    _refuse_unverifiable_rules(program)
    changes = describe_changes(current, program)
    if not changes:
        raise NothingChanged("Nothing changed: the program in force is the same.")
    row = ProgramVersion(
        id=program.version,
        rules=json.dumps(program.as_data()["rules"], sort_keys=True),
        hold_days=program.hold_days,
        attribution_window_days=program.attribution_window_days,
        attribution_model=program.attribution_model,
        referrer_offer=program.referrer_offer,
        referred_offer=program.referred_offer,
        changes="\n".join(changes),
        created_by_id=actor_id,
    )
    try:
        with write_transaction(keep_loaded=True) as session:
            session.add(row)
    except IntegrityError:
        raise ProgramConflict(_conflict_message(None)) from None
    saved = settings.from_version(
        row, default_currency=current_app.config["REFERRALS_DEFAULT_CURRENCY"]
    )
    cache.saved(saved)
    return saved


def _conflict_message(version: int | None) -> str:
    now = f" (now version {version})" if version is not None else ""
    return (
        f"The program was changed by someone else meanwhile{now}. Your changes were "
        "not saved: review the program in force below and make them again."
    )


def import_program(text: str, *, based_on: int, actor_id) -> Program:
    """Save a program exported as JSON (checked like a form); see save_program."""
    if len(text.encode()) > MAX_IMPORT_BYTES:
        raise ProgramInvalid({"file": f"at most {MAX_IMPORT_BYTES:,} bytes"})
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ProgramInvalid({"file": f"not JSON ({error})"}) from None
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in ("version", "exported_at")}
    return save_program(data, based_on=based_on, actor_id=actor_id)


def export_program(program: Program) -> str:
    """The program as a JSON document that import_program (or a deployment) reads."""
    document = {"version": program.version, **program.as_data()}
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def describe_changes(old: Program, new: Program) -> list[str]:
    """One line per difference between two programs, for the history."""
    lines = []
    labels = {
        "hold_days": "Hold days",
        "attribution_window_days": "Attribution window (days)",
        "attribution_model": "Attribution model",
        "referrer_offer": "Offer to referrers",
        "referred_offer": "Offer to invited people",
    }
    before, after = old.as_data(), new.as_data()
    for key, label in labels.items():
        if before[key] != after[key]:
            lines.append(
                f"{label}: {before[key] or '(worded from the rules)'} → "
                f"{after[key] or '(worded from the rules)'}"
            )
    old_rules = {rule["name"]: _normalized(rule, old) for rule in before["rules"]}
    new_rules = {rule["name"]: _normalized(rule, new) for rule in after["rules"]}
    for name in old_rules.keys() - new_rules.keys():
        lines.append(f"Rule {name} removed")
    for name, rule in new_rules.items():
        if name not in old_rules:
            lines.append(f"Rule {name} added: {_compact(rule)}")
        elif old_rules[name] != rule:
            lines.append(f"Rule {name}: " + _rule_diff(old_rules[name], rule))
    return lines


def _rule_diff(old: dict, new: dict) -> str:
    """ "amount $10.00 → $15.00; review no → yes": the fields that differ."""
    parts = []
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) != new.get(key):
            before = _shown(key, old.get(key), old.get("currency"))
            after = _shown(key, new.get(key), new.get("currency"))
            parts.append(f"{key.replace('_', ' ')} {before} → {after}")
    return "; ".join(parts)


def _shown(key: str, value, currency: str | None) -> str:
    if value is None:
        return "(none)"
    if key in (
        "amount",
        "referred_amount",
        "monthly_cap",
        "lifetime_cap",
        "customer_cap",
    ):
        return format_money(value, currency or "")
    if key in ("percent", "referred_percent"):
        return f"{value}%"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def _normalized(rule: dict, program: Program) -> dict:
    """A rule with its defaults spelled out, so equal rules compare equal however
    they were written (a form spells out what a JSON rule may leave implicit)."""
    parsed = program.rule_named(rule["name"])
    full = {"recipient": "referrer", "kind": "credit", "review": False, **rule}
    if parsed is not None:
        full["currency"] = parsed.currency
    for key in ("percent", "referred_percent"):
        if key in full:
            full[key] = str(Decimal(str(full[key])).normalize())
    return {key: value for key, value in full.items() if value is not None}


def _compact(rule: dict) -> str:
    shown = {k: v for k, v in rule.items() if k != "name"}
    return "; ".join(
        f"{k.replace('_', ' ')} {_shown(k, v, rule.get('currency'))}"
        for k, v in sorted(shown.items())
    )


@dataclass(frozen=True)
class HistoryEntry:
    """One saved version as the settings page lists it."""

    version: int
    saved_at: datetime
    saved_by: str | None
    changes: list[str]


def history(limit: int = 50) -> list[HistoryEntry]:
    """The latest saved versions, newest first, with who saved them."""
    User = current_app.extensions["referrals"].user_model
    user = user_sql(User)
    rows = db.session.execute(
        sa.select(
            ProgramVersion.id,
            ProgramVersion.created_at,
            ProgramVersion.changes,
            user.name.label("saved_by"),
        )
        .outerjoin(User, user.id == ProgramVersion.created_by_id)
        .order_by(ProgramVersion.id.desc())
        .limit(limit)
    ).all()
    return [
        HistoryEntry(row.id, row.created_at, row.saved_by, row.changes.splitlines())
        for row in rows
    ]


def saved_by_name(program: Program) -> str | None:
    """The name of the admin who saved a version, if known."""
    if program.saved_by_id is None:
        return None
    User = current_app.extensions["referrals"].user_model
    user = user_sql(User)
    return db.session.scalar(sa.select(user.name).where(user.id == program.saved_by_id))
