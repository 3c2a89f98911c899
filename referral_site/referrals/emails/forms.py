"""The email preferences form: one checkbox per category."""

from wtforms import BooleanField

from referral_site.referrals.emails.models import EmailCategory
from referral_site.referrals.emails.preferences import LABELS
from referral_site.referrals.forms import BrowserForm


class EmailPreferencesForm(BrowserForm):
    """A checkbox per category; the view applies those it showed."""

    def enabled(self, shown) -> set[EmailCategory]:
        """The shown categories whose box is ticked."""
        return {category for category in shown if self[category.value].data}

    def tick(self, enabled: set[EmailCategory]) -> None:
        """Show the user's current choices."""
        for category in EmailCategory:
            self[category.value].data = category in enabled


for _category in EmailCategory:
    setattr(EmailPreferencesForm, _category.value, BooleanField(LABELS[_category]))
