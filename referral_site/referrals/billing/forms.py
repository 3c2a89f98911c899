"""Forms of the admin's billing page: they check the shape of input only."""

from wtforms import StringField
from wtforms.validators import DataRequired, Length

from referral_site.referrals.forms import BrowserForm


class LinkEventForm(BrowserForm):
    """The user (id or email) who paid for an unattributed event."""

    user = StringField("User id or email", validators=[DataRequired(), Length(max=254)])


class ReplayEventForm(BrowserForm):
    """Handle a stored event again (a CSRF token and nothing else)."""
