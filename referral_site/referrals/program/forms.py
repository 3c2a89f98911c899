"""The settings page's forms: the program, one rule per row, and a JSON import.

They check the shape of what was typed (a number, an amount like 10.00 or 10%);
whether the rules make a valid program is the service's (settings.build) call.
Amounts are typed in major units and become integer minor units here, by the
currency's exponent, through Decimal (never a float).
"""

from decimal import Decimal, InvalidOperation

from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from referral_site.referrals.forms import BrowserForm
from referral_site.referrals.program.settings import MAX_OFFER_LENGTH
from referral_site.referrals.rewards.currencies import exponent
from referral_site.referrals.rewards.rules import RECIPIENTS, TRIGGERS

try:  # wtforms 3.3 deprecates (value, label) tuples for SelectChoice
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - wtforms before 3.3
    SelectChoice = None


def _choices(pairs) -> list:
    """Select options in the form the installed wtforms expects."""
    if SelectChoice is None:
        return list(pairs)
    return [SelectChoice(value=value, label=label) for value, label in pairs]


TRIGGER_LABELS = {
    "signup": "Friend signs up",
    "first_conversion": "Friend's first purchase",
    "every_conversion": "Every purchase of a friend",
    "milestone": "Milestone (friends who bought)",
}
RECIPIENT_LABELS = {
    "referrer": "The referrer",
    "referred": "The invited friend",
    "both": "Both",
}
KINDS = (("credit", "Credit"), ("cash", "Cash"), ("coupon", "Coupon"))


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class RuleRow(Form):
    """One rule; an empty name leaves the row out (the blank row adds a rule)."""

    name = StringField("Name", filters=[_strip], validators=[Length(max=64)])
    trigger = SelectField(
        "When",
        choices=_choices((t, TRIGGER_LABELS[t]) for t in TRIGGERS),
        default="first_conversion",
    )
    recipient = SelectField(
        "Who earns", choices=_choices((r, RECIPIENT_LABELS[r]) for r in RECIPIENTS)
    )
    kind = SelectField("Paid as", choices=_choices(KINDS))
    amount = StringField("Reward", filters=[_strip], validators=[Length(max=20)])
    referred_amount = StringField(
        "Friend's reward (if different)", filters=[_strip], validators=[Length(max=20)]
    )
    currency = StringField("Currency", filters=[_strip], validators=[Length(max=3)])
    conversion_kinds = StringField(
        "Only these conversion kinds", filters=[_strip], validators=[Length(max=200)]
    )
    milestones = StringField(
        "Milestones", filters=[_strip], validators=[Length(max=200)]
    )
    monthly_cap = StringField(
        "Monthly cap", filters=[_strip], validators=[Length(max=20)]
    )
    lifetime_cap = StringField(
        "Lifetime cap", filters=[_strip], validators=[Length(max=20)]
    )
    hold_days = IntegerField(
        "Hold days (blank: the program's)",
        validators=[Optional(), NumberRange(min=0, max=3650)],
    )
    months = IntegerField(
        "For the first months (blank: as long as they pay)",
        validators=[Optional(), NumberRange(min=1, max=1200)],
    )
    customer_cap = StringField(
        "Cap per referred customer", filters=[_strip], validators=[Length(max=20)]
    )
    fixed_clawback = SelectField(
        "A partial refund of a fixed reward",
        choices=_choices((("none", "Keeps it"), ("full", "Takes it all back"))),
        default="none",
    )
    review = BooleanField("An admin reviews each reward")
    verified_email = BooleanField("Approved only once the email address is verified")
    remove = BooleanField("Remove this rule")


class ProgramForm(BrowserForm):
    """The whole program; ``based_on`` is the version the admin was looking at."""

    based_on = HiddenField()
    rules = FieldList(FormField(RuleRow), min_entries=1)
    hold_days = IntegerField(
        "Hold days", validators=[InputRequired(), NumberRange(min=0, max=3650)]
    )
    attribution_window_days = IntegerField(
        "Attribution window (days)",
        validators=[InputRequired(), NumberRange(min=1, max=3650)],
    )
    attribution_model = SelectField(
        "Attribution model",
        choices=_choices(
            (
                ("first_touch", "First touch: the first link a visitor followed"),
                ("last_touch", "Last touch: the latest link a visitor followed"),
            )
        ),
    )
    referrer_offer = TextAreaField(
        "Offer to referrers (blank: worded from the rules)",
        filters=[_strip],
        validators=[Length(max=MAX_OFFER_LENGTH)],
    )
    referred_offer = TextAreaField(
        "Offer to invited people (blank: worded from the rules)",
        filters=[_strip],
        validators=[Length(max=MAX_OFFER_LENGTH)],
    )
    save = SubmitField("Save a new version")


class ImportForm(BrowserForm):
    """A program exported as JSON, uploaded as a file or pasted."""

    based_on = HiddenField()
    file = FileField("JSON file")
    text = TextAreaField("Or paste the JSON", validators=[Length(max=200_000)])
    upload = SubmitField("Import as a new version")


def based_on(form) -> int | None:
    """The version number the form was opened on, or None if tampered with."""
    try:
        return int(form.based_on.data)
    except (TypeError, ValueError):
        return None


def fill(form: ProgramForm, data: dict, version: int, default_currency: str) -> None:
    """Put a program (as_data) into an unsubmitted form, plus one blank rule row."""
    form.based_on.data = str(version)
    for key in ("hold_days", "attribution_window_days", "attribution_model"):
        form[key].data = data[key]
    form.referrer_offer.data = data["referrer_offer"]
    form.referred_offer.data = data["referred_offer"]
    while form.rules.entries:
        form.rules.pop_entry()
    for rule in data["rules"]:
        form.rules.append_entry(_row_data(rule, default_currency))
    form.rules.append_entry({"trigger": "first_conversion"})


def _row_data(rule: dict, default_currency: str) -> dict:
    currency = rule.get("currency", default_currency)
    row = {
        key: rule.get(key)
        for key in (
            "name",
            "trigger",
            "recipient",
            "kind",
            "hold_days",
            "review",
            "verified_email",
            "months",
        )
    }
    row["fixed_clawback"] = rule.get("fixed_clawback", "none")
    row["recipient"] = row["recipient"] or "referrer"
    row["kind"] = row["kind"] or "credit"
    row["currency"] = rule.get("currency", "")
    row["amount"] = _show(rule, "amount", "percent", currency)
    row["referred_amount"] = _show(
        rule, "referred_amount", "referred_percent", currency
    )
    row["monthly_cap"] = _money_text(rule.get("monthly_cap"), currency)
    row["lifetime_cap"] = _money_text(rule.get("lifetime_cap"), currency)
    row["customer_cap"] = _money_text(rule.get("customer_cap"), currency)
    row["conversion_kinds"] = ", ".join(rule.get("conversion_kinds") or ())
    row["milestones"] = ", ".join(str(n) for n in rule.get("milestones") or ())
    return row


def _show(rule: dict, amount_key: str, percent_key: str, currency: str) -> str:
    if percent_key in rule:
        return f"{rule[percent_key]}%"
    return _money_text(rule.get(amount_key), currency)


def _money_text(minor: object, currency: str) -> str:
    if not isinstance(minor, int) or isinstance(minor, bool):
        return "" if minor is None else str(minor)
    digits = exponent(currency)
    return f"{Decimal(minor).scaleb(-digits):.{digits}f}"


def rules_data(form: ProgramForm, default_currency: str) -> list[dict] | None:
    """The rule rows as rule mappings; None (with field errors set) if a value
    is not a number or an amount."""
    rules, valid = [], True
    for entry in form.rules.entries:
        row = entry.form
        if not row.name.data or row.remove.data:
            continue
        rule, row_valid = _rule_of(row, default_currency)
        valid &= row_valid
        rules.append(rule)
    return rules if valid else None


def _rule_of(row: RuleRow, default_currency: str) -> tuple[dict, bool]:
    rule = {
        "name": row.name.data,
        "trigger": row.trigger.data,
        "recipient": row.recipient.data,
        "kind": row.kind.data,
    }
    currency = (row.currency.data or "").upper()
    if currency:
        rule["currency"] = currency
    valid = True
    money_currency = currency or default_currency
    for field, amount_key, percent_key in (
        (row.amount, "amount", "percent"),
        (row.referred_amount, "referred_amount", "referred_percent"),
    ):
        if field.data:
            parsed = _amount_or_percent(field.data, money_currency)
            if parsed is None:
                field.errors.append(
                    "An amount such as 10.00, or a percentage such as 10%."
                )
                valid = False
            else:
                is_percent = field.data.endswith("%")
                key = percent_key if is_percent else amount_key
                rule[key] = parsed
    for field in (row.monthly_cap, row.lifetime_cap, row.customer_cap):
        if field.data:
            minor = _minor_units(field.data, money_currency)
            if minor is None:
                field.errors.append("An amount such as 100.00.")
                valid = False
            else:
                rule[field.name.rsplit("-", 1)[-1]] = minor
    if row.conversion_kinds.data:
        rule["conversion_kinds"] = _words(row.conversion_kinds.data)
    if row.milestones.data:
        counts = _whole_numbers(row.milestones.data)
        if counts is None:
            row.milestones.errors.append(
                "Whole numbers separated by commas, e.g. 5, 10."
            )
            valid = False
        else:
            rule["milestones"] = counts
    if row.hold_days.data is not None:
        rule["hold_days"] = row.hold_days.data
    if row.months.data is not None:
        rule["months"] = row.months.data
    if row.fixed_clawback.data == "full":
        rule["fixed_clawback"] = "full"
    if row.review.data:
        rule["review"] = True
    if row.verified_email.data:
        rule["verified_email"] = True
    return rule, valid


def _amount_or_percent(text: str, currency: str) -> int | str | None:
    """10.00 -> minor units (1000); 10% -> 10 and 2.5% -> "2.5" (percentages)."""
    if text.endswith("%"):
        try:
            percent = Decimal(text[:-1].strip())
        except InvalidOperation:
            return None
        if not percent.is_finite():
            return None
        # A whole percentage stays a number, as one typed in JSON would be.
        return (
            int(percent)
            if percent == percent.to_integral_value()
            else f"{percent.normalize():f}"
        )
    return _minor_units(text, currency)


def _minor_units(text: str, currency: str) -> int | None:
    try:
        amount = Decimal(text.replace(",", "").lstrip("$€£¥"))
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    minor = amount.scaleb(exponent(currency))
    if minor != minor.to_integral_value() or abs(minor) > 10**12:
        return None
    return int(minor)


def _words(text: str) -> list[str]:
    return [
        word.strip().lower()
        for word in text.replace(";", ",").split(",")
        if word.strip()
    ]


def _whole_numbers(text: str) -> list[int] | None:
    try:
        return [int(part) for part in _words(text)]
    except ValueError:
        return None


#: The form's field of each rule field a rule error can name.
_ROW_FIELDS = {"percent": "amount", "referred_percent": "referred_amount"}


def mark_rule_error(form: ProgramForm, rule: str | None, field: str, message) -> bool:
    """Put a rule's error on its field in the form; False if no row shows it."""
    name = _ROW_FIELDS.get(field, field)
    for entry in form.rules.entries:
        row = entry.form
        if row.name.data == rule and name in row._fields:
            row[name].errors = [*row[name].errors, message]
            return True
    return False
