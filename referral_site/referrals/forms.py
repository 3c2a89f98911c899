"""Forms of the referral blueprint: they check the shape of input, not the rules."""

from flask import current_app, request
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    Length,
    Optional,
    StopValidation,
    ValidationError,
)

from referral_site.referrals.attribution.codes import normalize_code
from referral_site.referrals.input_checks import (
    CONTROL_CHARACTERS_MESSAGE,
    has_control_characters,
    without_control_characters,
)
from referral_site.referrals.rewards.money import to_minor


def plain_text(form, field) -> None:
    """Refuse control characters (NUL included) in what was typed, before any
    other check of the field reads it; a multi-line field may hold line breaks."""
    multiline = isinstance(field, TextAreaField)
    for value in field.raw_data or ():
        if isinstance(value, str) and has_control_characters(
            value, multiline=multiline
        ):
            # A form shown again with the field's message must not echo them.
            if isinstance(field.data, str):
                field.data = without_control_characters(field.data)
            field.raw_data = None
            raise StopValidation(CONTROL_CHARACTERS_MESSAGE)


class BrowserForm(FlaskForm):
    """A form filled from an HTML form post only.

    Flask-WTF would read a JSON body as form data and fail with a 500 when the body
    is not an object; here a JSON post simply submits an empty form (a 400). Every
    field refuses control characters first (:func:`plain_text`): a host's forms
    built on this class get the check on their own fields too.
    """

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form, formdata):
            if request and request.is_json and not request.form:
                formdata = request.form
            return super().wrap_formdata(form, formdata)

        def bind_field(self, form, unbound_field, options):
            field = super().bind_field(form, unbound_field, options)
            field.validators = [plain_text, *field.validators]
            return field


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def check_new_password(password: str, email: str) -> None:
    """ValidationError if a new password is too short, repetitive or the email."""
    minimum = current_app.config["REFERRALS_PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        raise ValidationError(f"Use at least {minimum} characters.")
    if len(set(password)) < 4:
        raise ValidationError("Use a less repetitive password.")
    local_part = email.split("@")[0].lower()
    if len(local_part) >= 4 and local_part in password.lower():
        raise ValidationError("Your password must not contain your email address.")


class SignupForm(BrowserForm):
    """Name, email, password and an optional referral code."""

    name = StringField(
        "Name", filters=[_strip], validators=[DataRequired(), Length(max=100)]
    )
    email = EmailField(
        "Email",
        filters=[_strip],
        validators=[DataRequired(), Length(max=254), Email(check_deliverability=False)],
    )
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])
    referral_code = StringField(
        "Referral code (optional)",
        filters=[_strip],
        validators=[Optional(), Length(max=32)],
    )

    def validate_password(self, field) -> None:
        check_new_password(field.data or "", self.email.data or "")

    def validate_referral_code(self, field) -> None:
        if field.data and normalize_code(field.data) is None:
            raise ValidationError(
                "A referral code is 4 to 32 letters and digits. Clear the field "
                "to sign up without one."
            )


class VanityCodeForm(BrowserForm):
    """A code the user picks; the rules (reserved, taken) live in the service."""

    code = StringField(
        "Your own code", filters=[_strip], validators=[DataRequired(), Length(max=32)]
    )


class DeleteAccountForm(BrowserForm):
    """Deleting an account asks for its password."""

    password = PasswordField(
        "Your password", validators=[DataRequired(), Length(max=128)]
    )


class ReviewForm(BrowserForm):
    """An admin's reason for clearing or confirming a flag."""

    reason = StringField(
        "Reason", filters=[_strip], validators=[DataRequired(), Length(max=500)]
    )


class BulkReviewForm(BrowserForm):
    """One reason for clearing or confirming several flagged referrals at once."""

    referral_ids = SelectMultipleField(coerce=int, validate_choice=False)
    reason = StringField(
        "Reason (kept with each decision)",
        filters=[_strip],
        validators=[DataRequired(), Length(max=500)],
    )
    clear = SubmitField("Clear: let them through")
    confirm = SubmitField("Confirm: abuse")

    @property
    def decision(self) -> str | None:
        """The button that was pressed."""
        return next((name for name in ("clear", "confirm") if self[name].data), None)

    def validate_referral_ids(self, field) -> None:
        if not field.data:
            raise ValidationError("Select at least one referral.")
        # Ids no referral can have (past PostgreSQL's integer) never reach a query.
        if any(not 0 < referral_id < 2**31 for referral_id in field.data):
            raise ValidationError("Select referrals from the list.")


class RewardDecisionForm(BrowserForm):
    """Approve, reject (with a reason) or mark paid one or more rewards.

    The rewards are those ticked, or with ``scope`` "matching" every reward the
    queue's filter matches. A decision on several is shown back for confirmation
    first (``confirmed``); releasing money on a flagged referral needs
    ``confirm_flagged``.
    """

    reward_ids = SelectMultipleField(coerce=int, validate_choice=False)
    scope = HiddenField()
    confirmed = HiddenField()
    reason = StringField(
        "Reason (required to reject)", filters=[_strip], validators=[Length(max=500)]
    )
    confirm_flagged = BooleanField("I have read why it is flagged: release it anyway")
    approve = SubmitField("Approve")
    reject = SubmitField("Reject")
    pay = SubmitField("Mark paid")

    @property
    def action(self) -> str | None:
        """The button that was pressed."""
        return next(
            (name for name in ("approve", "reject", "pay") if self[name].data), None
        )

    @property
    def all_matching(self) -> bool:
        return self.scope.data == "matching"

    def validate_reward_ids(self, field) -> None:
        if not field.data and not self.all_matching:
            raise ValidationError("Select at least one reward.")

    def validate_reason(self, field) -> None:
        if self.reject.data and not field.data:
            raise ValidationError("Give a reason to reject.")

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if valid and self.action is None:
            self.form_errors.append("Choose approve, reject or mark paid.")
            return False
        return valid


class ForgotPasswordForm(BrowserForm):
    """The address to send a password reset link to."""

    email = EmailField(
        "Email",
        filters=[_strip],
        validators=[DataRequired(), Length(max=254), Email(check_deliverability=False)],
    )


class NewPasswordForm(BrowserForm):
    """A new password, typed twice; the email is only for the strength check."""

    password = PasswordField(
        "New password", validators=[DataRequired(), Length(max=128)]
    )
    confirm = PasswordField(
        "New password again", validators=[DataRequired(), Length(max=128)]
    )
    email = ""

    def validate_password(self, field) -> None:
        check_new_password(field.data or "", self.email)

    def validate_confirm(self, field) -> None:
        if field.data != self.password.data:
            raise ValidationError("The two passwords differ.")


class ConfirmForm(BrowserForm):
    """A button, with its CSRF token: links in emails act only on a POST."""


class ClawbackForm(BrowserForm):
    """An admin takes back a paid reward, with a reason."""

    reason = StringField(
        "Reason", filters=[_strip], validators=[DataRequired(), Length(max=500)]
    )


class NoteForm(BrowserForm):
    """A note an admin keeps about a person."""

    body = TextAreaField(
        "Note", filters=[_strip], validators=[DataRequired(), Length(max=2000)]
    )


class AccessForm(BrowserForm):
    """Disable or enable an account, with the reason kept in the notes."""

    reason = StringField(
        "Reason", filters=[_strip], validators=[DataRequired(), Length(max=500)]
    )
    disable = SubmitField("Disable account")
    enable = SubmitField("Enable account")


class AdminCodeForm(BrowserForm):
    """A new primary code an admin gives someone."""

    code = StringField(
        "New code", filters=[_strip], validators=[DataRequired(), Length(max=32)]
    )


class AdjustmentForm(BrowserForm):
    """A manual reward or deduction (the button says which): how much, in what, why."""

    amount = StringField(
        "Amount", filters=[_strip], validators=[DataRequired(), Length(max=20)]
    )
    currency = StringField(
        "Currency", filters=[_strip], validators=[DataRequired(), Length(min=3, max=3)]
    )
    reason = StringField(
        "Reason", filters=[_strip], validators=[DataRequired(), Length(max=500)]
    )
    give = SubmitField("Give as a reward")
    deduct = SubmitField("Deduct")

    def minor_units(self) -> int:
        """The signed amount in minor units (after validate())."""
        amount = to_minor(self.amount.data, self.currency.data)
        return -amount if self.deduct.data else amount

    def validate_amount(self, field) -> None:
        try:
            amount = to_minor(field.data, self.currency.data or "")
        except ValueError as error:
            raise ValidationError(f"Write the amount as {error}.") from None
        if amount <= 0:
            raise ValidationError("Give an amount above zero.")


class BlockEmailForm(BrowserForm):
    """An address or a domain to block, and why."""

    value = StringField(
        "Address or domain",
        filters=[_strip],
        validators=[DataRequired(), Length(max=254)],
    )
    reason = StringField("Why", filters=[_strip], validators=[Length(max=500)])


class UnblockForm(BrowserForm):
    """Taking an entry off the blocklist (a button; the token is the form)."""
