"""The email blocklist: addresses and domains whose signups are refused.

Admins keep it at /admin/fraud. A blocked signup is refused outright (the plugin's
signup form says so at the email field; a host's ``attribute_signup`` raises
``EmailBlocked`` before writing anything), rather than let in and flagged: a
blocked address or domain is a decision already taken, with nothing left for a
review to weigh. An entry with "@" blocks that address; one without blocks the
domain and its subdomains.
"""

import re

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from referral_site.referrals.admin.models import BlockedEmail
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.transactions import write_transaction

_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}")
_ADDRESS = re.compile(r"[^@\s]{1,64}@" + _DOMAIN.pattern)


class BlocklistError(Exception):
    """An entry was refused; the message is safe to show."""


def entry_for(typed: str) -> str:
    """The stored form of a typed entry: "Spam.example" -> "spam.example"."""
    value = (typed or "").strip().lower().lstrip("@").rstrip(".")
    pattern = _ADDRESS if "@" in value else _DOMAIN
    if not pattern.fullmatch(value):
        raise BlocklistError(
            "Enter an email address (name@example.com) or a domain (example.com)."
        )
    return value


def _candidates(email: str) -> list[str]:
    """The entries that would block this address: itself, its domain and parents."""
    address = (email or "").strip().lower()
    domain = address.rpartition("@")[2]
    labels = domain.split(".")
    return [address] + [".".join(labels[i:]) for i in range(len(labels) - 1)]


def blocking_entry(email: str) -> BlockedEmail | None:
    """The entry that blocks this address, or None (one query on a unique index)."""
    return db.session.scalar(
        sa.select(BlockedEmail)
        .where(BlockedEmail.value.in_(_candidates(email)))
        .order_by(sa.func.length(BlockedEmail.value).desc())
        .limit(1)
    )


def block(typed: str, *, reason: str, admin_id) -> str:
    """Add an address or a domain to the blocklist; returns the stored entry."""
    value = entry_for(typed)
    try:
        with write_transaction() as session:
            session.add(
                BlockedEmail(
                    value=value,
                    reason=(reason or "").strip()[:500],
                    added_by_id=admin_id,
                )
            )
    except IntegrityError:
        raise BlocklistError(f"{value} is already blocked.") from None
    return value


def unblock(entry_id: int) -> str:
    """Take an entry off the blocklist; returns what it was."""
    with write_transaction() as session:
        entry = session.get(BlockedEmail, entry_id)
        if entry is None:
            raise BlocklistError("That entry is not on the blocklist.")
        value = entry.value
        session.delete(entry)
    return value


def entries() -> list[BlockedEmail]:
    """Every entry, newest first (admins keep it short: a few hundred at most)."""
    return list(
        db.session.scalars(
            sa.select(BlockedEmail).order_by(
                BlockedEmail.created_at.desc(), BlockedEmail.id.desc()
            )
        )
    )
