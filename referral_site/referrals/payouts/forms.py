"""Forms of payouts: a person's payout details, and the admin's batch decisions."""

from wtforms import (
    BooleanField,
    PasswordField,
    RadioField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from referral_site.referrals.forms import BrowserForm
from referral_site.referrals.payouts.details import DetailsError, paypal_address
from referral_site.referrals.payouts.models import PayoutMethod
from referral_site.referrals.program.forms import _choices


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class PayoutDetailsForm(BrowserForm):
    """PayPal (with its address) or store credit only, confirmed by password."""

    method = RadioField(
        "How you are paid",
        choices=_choices(
            [
                (PayoutMethod.PAYPAL.value, "PayPal"),
                (PayoutMethod.STORE_CREDIT.value, "Store credit only"),
            ]
        ),
        validators=[DataRequired(message="Choose PayPal or store credit.")],
    )
    paypal_email = StringField(
        "PayPal email address",
        filters=[_strip],
        validators=[Optional(), Length(max=254)],
    )
    password = PasswordField(
        "Your password", validators=[DataRequired(), Length(max=128)]
    )

    def validate_paypal_email(self, field) -> None:
        if self.method.data != PayoutMethod.PAYPAL.value:
            return
        try:
            paypal_address(field.data or "")
        except DetailsError as error:
            raise ValidationError(str(error)) from None


class CreateBatchForm(BrowserForm):
    """Create a batch of everything payable, or of the ticked people."""

    keys = SelectMultipleField("People", validate_choice=False)
    everything = SubmitField("Create a batch of everything payable")
    selected = SubmitField("Create a batch of the selected")


class MarkPaidForm(BrowserForm):
    """The provider's reference of the payment, and the admin's confirmation."""

    reference = StringField(
        "Payment reference (e.g. PayPal's batch id)",
        filters=[_strip],
        validators=[DataRequired(), Length(max=128)],
    )
    confirm = BooleanField(
        "The provider paid this batch: mark its rewards paid",
        validators=[DataRequired(message="Tick to confirm the batch was paid.")],
    )


class FailLineForm(BrowserForm):
    """Why the provider could not pay one line, and the admin's confirmation."""

    reason = StringField(
        "Why it failed", filters=[_strip], validators=[DataRequired(), Length(max=300)]
    )
    confirm = BooleanField(
        "Take this line out: its rewards become due again",
        validators=[DataRequired(message="Tick to confirm.")],
    )
