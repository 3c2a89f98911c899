"""Blinker signals a host app can connect to (send emails, fire webhooks)."""

from blinker import Namespace

_signals = Namespace()

#: Sent after a signup commits. Arguments: sender (the app), user, referral (or None).
user_signed_up = _signals.signal("user-signed-up")

#: Sent after a referral is stored. Arguments: sender (the app), referral.
referral_created = _signals.signal("referral-created")

#: Sent after a referral is flagged or gets new fraud signals. Arguments: sender (the
#: app), referral_id, signals (the new FraudSignal names).
referral_flagged = _signals.signal("referral-flagged")

#: Sent after an admin clears or confirms a flag. Arguments: sender (the app),
#: referral_id, decision (ReviewStatus.CLEARED or CONFIRMED), admin_id, reason.
referral_review_decided = _signals.signal("referral-review-decided")
