"""The referrers' emails, one handler per event type of the outbox.

``deliver_event(event)`` takes anything with ``id``, ``type`` and ``payload`` (an
outbox event) and sends what it calls for, each email at most once however often
the event is handled.
"""

import sqlalchemy as sa

from referral_site.referrals.emails.delivery import recipient, send_once
from referral_site.referrals.emails.models import EmailCategory
from referral_site.referrals.rewards.lifecycle import rule_of
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import Reward

#: A reward's new status -> the category (and template) of the email telling its
#: owner.
STATUS_EMAILS = {
    "approved": EmailCategory.REWARD_APPROVED,
    "paid": EmailCategory.REWARD_PAID,
    "rejected": EmailCategory.REWARD_REJECTED,
}


def friend_signed_up(event) -> int:
    """referral.created: the referrer hears that a friend joined through them."""
    payload = event.payload
    friend = recipient(payload["referred_id"])
    sent = send_once(
        event.id,
        payload["referrer_id"],
        EmailCategory.FRIEND_SIGNED_UP,
        "friend_signed_up",
        friend_name=friend.name if friend is not None else "A friend",
        code=payload.get("code"),
    )
    return int(sent)


def reward_created(event) -> int:
    """reward.created: the owner hears of a reward earned, or of a milestone."""
    payload = event.payload
    reward = _reward(payload["reward_id"])
    rule = reward and rule_of(reward.program_version, payload["rule"])
    if rule is None or payload["amount_minor"] <= 0:
        return 0  # adjustments (clawbacks) are not news to celebrate
    category = (
        EmailCategory.MILESTONE_REACHED
        if rule.trigger == "milestone"
        else EmailCategory.REWARD_EARNED
    )
    sent = send_once(
        event.id,
        payload["user_id"],
        category,
        category.value,
        reward=reward,
        amount_minor=payload["amount_minor"],
        currency=payload["currency"],
        milestones=rule.milestones,
    )
    return int(sent)


def reward_status_changed(event) -> int:
    """reward.status_changed: approved, paid or rejected (with the reason)."""
    payload = event.payload
    category = STATUS_EMAILS.get(str(payload["new_status"]))
    reward = _reward(payload["reward_id"])
    if category is None or reward is None or reward.amount_minor <= 0:
        return 0
    sent = send_once(
        event.id,
        payload["user_id"],
        category,
        category.value,
        reward=reward,
        amount_minor=reward.amount_minor,
        currency=reward.currency,
        reason=payload.get("reason") or "",
    )
    return int(sent)


def webhook_disabled(event) -> int:
    """webhook.endpoint_disabled: every admin hears that deliveries stopped."""
    from referral_site.referrals.emails.digest import admin_ids

    payload = event.payload
    return sum(
        send_once(
            event.id,
            admin_id,
            EmailCategory.ADMIN_DIGEST,
            "webhook_disabled",
            endpoint_id=payload.get("endpoint_id"),
            url=payload.get("url", ""),
            reason=payload.get("reason", ""),
        )
        for admin_id in admin_ids()
    )


def _reward(reward_id):
    return db.session.execute(
        sa.select(
            Reward.id,
            Reward.amount_minor,
            Reward.currency,
            Reward.rule,
            Reward.kind,
            Reward.program_version,
        ).where(Reward.id == reward_id)
    ).first()


#: Event type -> the handler sending its emails.
HANDLERS = {
    "referral.created": friend_signed_up,
    "reward.created": reward_created,
    "reward.status_changed": reward_status_changed,
    "webhook.endpoint_disabled": webhook_disabled,
}


def deliver_event(event) -> int:
    """Send the emails an event calls for (none for other types); how many went."""
    handler = HANDLERS.get(event.type)
    return handler(event) if handler is not None else 0


#: The emails' name among the outbox's consumers (it keys their progress).
CONSUMER = "emails"


def _handle(event) -> None:
    deliver_event(event)


def register_consumer() -> None:
    """Have the outbox's background job hand the emails their events."""
    from referral_site.referrals.outbox import consumers

    consumers.register(CONSUMER, _handle, types=HANDLERS)
