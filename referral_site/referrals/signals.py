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

#: Sent after a new conversion is stored (not on a replay). Arguments: sender (the
#: app), conversion (a conversions.ConversionResult).
conversion_recorded = _signals.signal("conversion-recorded")

#: Sent after a conversion is marked refunded. Arguments: sender, conversion.
conversion_refunded = _signals.signal("conversion-refunded")

#: Sent after a rule grants a reward (or a refund records an adjustment). Arguments:
#: sender, reward_id, user_id, rule, amount_minor, currency, status.
reward_created = _signals.signal("reward-created")

#: Sent after a reward changes status. Arguments: sender, reward_id, user_id,
#: old_status, new_status, actor_id (None for the system), reason.
reward_status_changed = _signals.signal("reward-status-changed")
