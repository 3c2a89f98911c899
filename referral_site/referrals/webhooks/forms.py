"""Forms of the webhook admin pages: they check the shape of input only."""

from wtforms import BooleanField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from referral_site.referrals.forms import BrowserForm
from referral_site.referrals.outbox.events import TYPES


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class EndpointForm(BrowserForm):
    """An endpoint's URL, description, event types and state."""

    url = StringField(
        "URL", filters=[_strip], validators=[DataRequired(), Length(max=2000)]
    )
    description = StringField(
        "Description", filters=[_strip], validators=[Length(max=200)]
    )
    event_types = SelectMultipleField(
        "Events sent (none ticked: every type)",
        choices=list(TYPES),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    enabled = BooleanField("Enabled", default=True)


class ActionForm(BrowserForm):
    """A button that changes something (rotate, replay, delete): its CSRF token."""
