"""Blinker signals a host app can connect to (send emails, fire webhooks)."""

from blinker import Namespace

_signals = Namespace()

#: Sent after a signup commits. Arguments: sender (the app), user, referral (or None).
user_signed_up = _signals.signal("user-signed-up")

#: Sent after a referral is stored. Arguments: sender (the app), referral.
referral_created = _signals.signal("referral-created")
