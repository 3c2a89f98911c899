"""Sending an email at most once per (event, recipient, category), to users who
want it: the part every event email and the admin digest go through."""

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, url_for
from sqlalchemy.exc import IntegrityError

from referral_site.referrals.emails import preferences, tokens
from referral_site.referrals.emails.models import EmailCategory, EmailDelivery
from referral_site.referrals.emails.sending import (
    OutgoingEmail,
    links_context,
    mail_enabled,
    render_email,
    send_email,
)
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import ReferralAccount, utcnow
from referral_site.referrals.storage.transactions import write_transaction


@dataclass(frozen=True)
class Recipient:
    """Who an email goes to: their id, name and address."""

    id: object
    name: str
    email: str


def recipient(user_id) -> Recipient | None:
    """The user as an email recipient; None if gone, forgotten or without an address."""
    state = current_app.extensions["referrals"]
    user = db.session.get(state.user_model, user_id)
    if user is None:
        return None
    forgotten = db.session.scalar(
        sa.select(ReferralAccount.deleted_at).where(ReferralAccount.user_id == user_id)
    )
    email = state.users.email(user)
    if forgotten is not None or not email:
        return None
    return Recipient(id=user_id, name=state.users.name(user), email=email)


def send_once(
    event_id: str, user_id, category: EmailCategory, template: str, **context
) -> bool:
    """Send one email of a category for an event unless it went (or is going) out.

    The claim is a row under a unique (event, recipient, category), committed before
    the send: a second delivery of the same event finds it and sends nothing. A
    failed send removes its claim so that the job's retry sends it; a claim left
    by a process that died mid-send is taken over after REFERRALS_EMAIL_CLAIM_MINUTES.
    """
    if not mail_enabled():
        return False
    person = recipient(user_id)
    if person is None or not preferences.wants(user_id, category):
        return False
    claim = _claim(str(event_id), user_id, category)
    if claim is None:
        return False
    try:
        send_email(_compose(person, category, template, context))
    except Exception:
        with write_transaction() as session:
            session.execute(sa.delete(EmailDelivery).where(EmailDelivery.id == claim))
        raise
    with write_transaction() as session:
        session.execute(
            sa.update(EmailDelivery)
            .where(EmailDelivery.id == claim)
            .values(sent_at=utcnow())
        )
    return True


def _compose(person: Recipient, category, template: str, context) -> OutgoingEmail:
    """The email with its unsubscribe link, in the body and in the RFC 8058 headers."""
    with links_context():
        unsubscribe = url_for(
            "referrals.unsubscribe",
            token=tokens.unsubscribe_token(person.id, category),
            _external=True,
        )
        preferences_url = url_for("referrals.mine", _external=True) + "#emails"
    rendered = render_email(
        template,
        recipient=person,
        unsubscribe_url=unsubscribe,
        preferences_url=preferences_url,
        category_label=preferences.LABELS[category],
        **context,
    )
    return OutgoingEmail(
        to=person.email,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def _claim(event_id: str, user_id, category: EmailCategory) -> int | None:
    """The id of this send's claim row, or None if another send has it."""
    try:
        with write_transaction() as session:
            row = EmailDelivery(
                event_id=event_id, recipient_id=user_id, category=category
            )
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:
        return _take_over_stale_claim(event_id, user_id, category)


def _take_over_stale_claim(event_id: str, user_id, category) -> int | None:
    minutes = current_app.config["REFERRALS_EMAIL_CLAIM_MINUTES"]
    now = utcnow()
    key = (
        EmailDelivery.event_id == event_id,
        EmailDelivery.recipient_id == user_id,
        EmailDelivery.category == category,
    )
    with write_transaction() as session:
        taken = session.execute(
            sa.update(EmailDelivery)
            .where(
                *key,
                EmailDelivery.sent_at.is_(None),
                EmailDelivery.claimed_at < now - timedelta(minutes=minutes),
            )
            .values(claimed_at=now)
        ).rowcount
        if taken != 1:
            return None
        return session.scalar(sa.select(EmailDelivery.id).where(*key))
