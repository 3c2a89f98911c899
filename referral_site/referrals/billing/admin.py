"""The admin's hand in billing: tie an unattributed event to a user, replay one."""

import sqlalchemy as sa

from referral_site.referrals.billing import handling, payers
from referral_site.referrals.billing.models import BillingEvent, Outcome
from referral_site.referrals.billing.results import Result
from referral_site.referrals.rewards.conversions import UnknownUser, find_user_id
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.transactions import write_transaction

#: Ids past this are no event (and would overflow the column on PostgreSQL).
MAX_ID = 2**31 - 1


class BillingAdminError(Exception):
    """The admin's request cannot be done; the message is safe to show."""


class EventNotFound(BillingAdminError):
    """No stored event has this id."""


def find_event(event_id: int) -> BillingEvent:
    """A stored event by its id, or BillingAdminError."""
    event = db.session.get(BillingEvent, event_id) if 0 < event_id <= MAX_ID else None
    if event is None:
        raise EventNotFound(f"No billing event #{event_id}.")
    return event


def link_event(event_id: int, who: str) -> Result:
    """Tie an unattributed event (and its customer) to a user, then apply it."""
    event = find_event(event_id)
    if event.outcome != Outcome.UNATTRIBUTED:
        raise BillingAdminError(
            f"Event #{event_id} is {event.outcome.value}: only unattributed "
            "events can be linked."
        )
    user_id = _user(who)
    customer = event.customer_id
    with write_transaction() as session:
        session.execute(
            sa.update(BillingEvent)
            .where(BillingEvent.id == event_id)
            .values(user_id=user_id)
            .execution_options(synchronize_session=False)
        )
    payers.remember_customer(customer, user_id)
    return replay_event(event_id)


def replay_event(event_id: int) -> Result:
    """Handle a stored event again (changes nothing it did already)."""
    find_event(event_id)
    db.session.rollback()
    result = handling.handle_again(event_id)
    if result is None:
        raise BillingAdminError(f"Event #{event_id} is being handled right now.")
    return result


def _user(who: str):
    """The id of the user an admin named by id or email."""
    who = (who or "").strip()
    if "@" not in who:
        found = payers.known_user(who)
    else:
        try:
            found = find_user_id(email=who)
        except UnknownUser:
            found = None
    if found is None:
        raise BillingAdminError(f"No user with the id or email {who[:100]!r}.")
    return found
