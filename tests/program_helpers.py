"""Helpers of the program settings tests: the settings form as a browser posts it."""

import re

import sqlalchemy as sa

from referral_site.referrals.program.models import ProgramVersion

RULE_FIELDS = (
    "name", "trigger", "recipient", "kind", "amount", "referred_amount", "currency",
    "conversion_kinds", "milestones", "monthly_cap", "lifetime_cap", "hold_days",
)  # fmt: skip


def program_form(rules, *, based_on=0, **settings) -> dict:
    """The settings form's fields: rules are dicts of the rule row's fields."""
    data = {
        "based_on": str(based_on),
        "hold_days": "14",
        "attribution_window_days": "30",
        "attribution_model": "first_touch",
        "referrer_offer": "",
        "referred_offer": "",
    } | {key: str(value) for key, value in settings.items()}
    for index, rule in enumerate(rules):
        row = {"trigger": "first_conversion", "recipient": "referrer", "kind": "credit"}
        for key, value in (row | rule).items():
            if key in ("review", "remove", "verified_email"):
                if value:
                    data[f"rules-{index}-{key}"] = "y"
            else:
                data[f"rules-{index}-{key}"] = str(value)
    return data


def versions(app) -> list[int]:
    with app.app_context():
        session = app.extensions["referrals"].db.session
        return list(session.scalars(sa.select(ProgramVersion.id)))


def form_values(html: str) -> dict:
    """The text inputs' and selected options' values of a rendered settings form."""
    values = dict(re.findall(r'name="([^"]+)" type="text" value="([^"]*)"', html))
    values |= dict(
        re.findall(r'id="([^"]+)" name="[^"]+" type="number"[^>]*value="([^"]*)"', html)
    )
    return values
