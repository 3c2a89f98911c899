"""The rewards engine's public face: what the rest of the plugin calls, in one place.

Lifecycle: pending (in hold) -> approved -> paid, or review (an admin must decide),
rejected, and reversed (source conversion refunded before payment). A refund after
payment adds a negative "adjustment" reward instead. Every change is a conditional
UPDATE (``WHERE status = <what we saw>``), so two deciders cannot both win, plus an
append-only RewardEvent; balances are sums over those events.

Where each part lives: the shared move, its history and the rules in force in
lifecycle.py; admin decisions in decisions.py; clawbacks by an admin in
clawbacks.py; the process-rewards job in processing.py; the effect of a referral's
review in review.py; refunds in refunds.py; granting in grants.py; reads
(balances, a reward's history) in queries.py, the admins' queue in queue.py.
"""

from referral_site.referrals.rewards.adjustments import adjust
from referral_site.referrals.rewards.clawbacks import (
    claw_back,
    is_clawed_back,
    paid_not_clawed_back,
)
from referral_site.referrals.rewards.decisions import Decision, actions_for, decide
from referral_site.referrals.rewards.lifecycle import (
    ABUSE_REASON,
    ADJUSTMENT_RULE,
    Notices,
    RewardError,
    active_rules,
    init_app,
    lock_user,
    record_event,
)
from referral_site.referrals.rewards.processing import Processed, process_rewards
from referral_site.referrals.rewards.refunds import reverse_for_refund
from referral_site.referrals.rewards.review import (
    apply_review_decision,
    reevaluate_rewards,
)

__all__ = [
    "ABUSE_REASON",
    "ADJUSTMENT_RULE",
    "Decision",
    "Notices",
    "Processed",
    "RewardError",
    "actions_for",
    "adjust",
    "active_rules",
    "apply_review_decision",
    "claw_back",
    "decide",
    "init_app",
    "is_clawed_back",
    "lock_user",
    "paid_not_clawed_back",
    "process_rewards",
    "record_event",
    "reevaluate_rewards",
    "reverse_for_refund",
]
