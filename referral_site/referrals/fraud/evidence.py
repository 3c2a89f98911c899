"""What makes a referral suspicious, and the referral-loop check: read, not stored.

Signals are computed here, from as few queries as possible (a signup reads its
evidence in one); fraud/review.py stores them, flags referrals and records the reviews.
"""

import functools
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from disposable_email_domains import blocklist as _DISPOSABLE_DOMAINS
from flask import current_app

from referral_site.referrals.fraud.models import FraudSignal, SightingKind, UserSighting
from referral_site.referrals.program.cache import program_cache
from referral_site.referrals.storage.db import db, user_pk
from referral_site.referrals.storage.models import Referral, ReferralAccount, utcnow
from referral_site.referrals.users import user_sql

#: Domains whose addresses ignore dots in the local part, mapped to one spelling.
_GMAIL_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


@dataclass(frozen=True)
class Signal:
    """One reason to doubt a referral, with a short explanation (no personal data)."""

    name: FraudSignal
    detail: str = ""


def _config(key: str):
    return current_app.config["REFERRALS_" + key]


def comparison_email(email: str) -> str:
    """The mailbox an address delivers to: case, +tags and Gmail dots ignored."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in _GMAIL_DOMAINS:
        domain = _GMAIL_DOMAINS[domain]
        local = local.replace(".", "")
    return f"{local}@{domain}"


def mailbox_digest(email: str) -> str:
    """A keyed hash of the mailbox an address delivers to (see comparison_email)."""
    key = current_app.extensions["referrals"].ip_hash_key
    return hmac.new(key, comparison_email(email).encode(), hashlib.sha256).hexdigest()


def _extra_disposable_domains() -> set[str]:
    """The configured disposable domains, on top of the package's list."""
    extra = _config("EXTRA_DISPOSABLE_DOMAINS")
    if isinstance(extra, str):
        extra = extra.replace(",", " ").split()
    return {domain.strip().lower() for domain in extra or ()}


def is_disposable(email: str) -> bool:
    """Whether an address is at a disposable domain (or a subdomain of one)."""
    domain = email.strip().lower().rpartition("@")[2]
    parts = domain.split(".")
    # The package's list (10,000 domains) is looked up where it is, not copied with
    # the extras into a new set on every signup.
    extra = _extra_disposable_domains()
    return any(
        suffix in _DISPOSABLE_DOMAINS or suffix in extra
        for suffix in (".".join(parts[i:]) for i in range(len(parts) - 1))
    )


def _seen(kind: SightingKind, value: sa.BindParameter):
    """SQL: whether the referrer's signed-in sessions showed this device or IP lately.

    Parameters: referrer_id, seen_since and the value's own.
    """
    return sa.exists().where(
        UserSighting.user_id == sa.bindparam("referrer_id"),
        UserSighting.kind == kind,
        UserSighting.value == value,
        UserSighting.last_seen_at >= sa.bindparam("seen_since"),
    )


def _seen_since() -> datetime:
    # The program's attribution window (browser-edited or the configuration's).
    window = program_cache().cached().attribution_window_days
    return utcnow() - timedelta(days=window)


#: Whether the referrer was seen with the device (visitor_id) or IP hash (ip_hash).
_SEEN_QUERY = sa.select(
    _seen(SightingKind.DEVICE, sa.bindparam("visitor_id")),
    _seen(SightingKind.IP, sa.bindparam("ip_hash")),
)


def shared_session_signals(referral: Referral) -> list[Signal]:
    """Whether the referrer's signed-in sessions showed the signup's device or IP."""
    device, ip = referral.signup_visitor_id or None, referral.signup_ip_hash or None
    if not (device or ip):
        return []
    same_device, same_ip = db.session.execute(
        _SEEN_QUERY,
        {
            "referrer_id": referral.referrer_id,
            "visitor_id": device,
            "ip_hash": ip,
            "seen_since": _seen_since(),
        },
    ).one()
    return _session_signals(bool(same_device), bool(same_ip))


def _session_signals(same_device: bool, same_ip: bool) -> list[Signal]:
    signals = []
    if same_device:
        signals.append(
            Signal(
                FraudSignal.SAME_DEVICE, "Signed up from a browser the referrer uses."
            )
        )
    if same_ip:
        signals.append(
            Signal(FraudSignal.SAME_IP, "Signed up from an IP the referrer used.")
        )
    return signals


def _velocity_signals(per_referrer: int, per_ip: int | None) -> list[Signal]:
    minutes = _config("VELOCITY_WINDOW_MINUTES")
    signals = []
    if per_referrer > _config("VELOCITY_MAX_PER_REFERRER"):
        signals.append(
            Signal(
                FraudSignal.REFERRER_VELOCITY,
                f"{per_referrer} signups for this referrer in {minutes} minutes.",
            )
        )
    if per_ip is not None and per_ip > _config("VELOCITY_MAX_PER_IP"):
        signals.append(
            Signal(
                FraudSignal.IP_VELOCITY,
                f"{per_ip} referred signups from one IP in {minutes} minutes.",
            )
        )
    return signals


@dataclass(frozen=True)
class _SignupEvidence:
    """What the signals of a new referral compare it with."""

    referrer_email: str
    same_device: bool
    same_ip: bool
    #: Referred signups within the velocity window, before this one.
    for_referrer: int
    from_ip: int | None


def _signup_evidence(
    referrer_id: int, ip_hash: str | None, visitor_id: str | None
) -> _SignupEvidence:
    """Read everything the signup signals need in one query."""
    User = current_app.extensions["referrals"].user_model
    window = timedelta(minutes=_config("VELOCITY_WINDOW_MINUTES"))
    email, device, ip, for_referrer, from_ip = db.session.execute(
        _evidence_query(User),
        {
            "referrer_id": referrer_id,
            "visitor_id": visitor_id or None,
            "ip_hash": ip_hash or None,
            "seen_since": _seen_since(),
            "recent_since": utcnow() - window,
        },
    ).one()
    return _SignupEvidence(
        email, bool(device), bool(ip), for_referrer, from_ip if ip_hash else None
    )


@functools.cache
def _evidence_query(User: type) -> sa.Select:
    """The referrer's email, whether they were seen with the device or IP, and the
    referred signups since recent_since for them and from the IP.

    Built once per user model, like _chain_query.
    """
    referrer_id = sa.bindparam("referrer_id")
    user = user_sql(User)

    def recent(*where):
        return (
            sa.select(sa.func.count(Referral.id))
            .where(Referral.created_at >= sa.bindparam("recent_since"), *where)
            .scalar_subquery()
        )

    return sa.select(
        sa.select(user.email).where(user.id == referrer_id).scalar_subquery(),
        *_SEEN_QUERY.selected_columns,
        recent(Referral.referrer_id == referrer_id),
        recent(Referral.signup_ip_hash == sa.bindparam("ip_hash")),
    )


def signup_signals(
    referrer_id: int,
    *,
    referred_email: str,
    ip_hash: str | None,
    visitor_id: str | None,
) -> list[Signal]:
    """Every soft signal a referral about to be created trips.

    Runs in the signup's transaction, before the referral is inserted: the velocity
    counts add it to the referrals they find.
    """
    evidence = _signup_evidence(referrer_id, ip_hash, visitor_id)
    signals = []
    if comparison_email(referred_email) == comparison_email(evidence.referrer_email):
        signals.append(
            Signal(
                FraudSignal.OWN_EMAIL,
                "Same mailbox as the referrer once case, dots and +tags are ignored.",
            )
        )
    if is_disposable(referred_email):
        domain = referred_email.rpartition("@")[2].lower()
        signals.append(
            Signal(FraudSignal.DISPOSABLE_EMAIL, f"Disposable email domain {domain}.")
        )
    from_ip = evidence.from_ip + 1 if evidence.from_ip is not None else None
    return (
        signals
        + _session_signals(evidence.same_device, evidence.same_ip)
        + _velocity_signals(evidence.for_referrer + 1, from_ip)
    )


def would_loop(referrer_id: int, email: str) -> bool:
    """Whether this address belongs to someone up the referrer's chain of referrers.

    Signing up as one of them would make them referred, directly or not, by a
    person they referred: a referral loop. Deleted accounts up the chain are
    matched by their mailbox digest, so deleting an account does not open one.
    """
    User = current_app.extensions["referrals"].user_model
    mailbox, digest = comparison_email(email), mailbox_digest(email)
    return any(
        comparison_email(found.email) == mailbox
        or hmac.compare_digest(found.deleted_mailbox_digest or "", digest)
        for found in db.session.execute(
            _chain_query(User), {"referrer_id": referrer_id}
        )
    )


@functools.cache
def _chain_query(User: type) -> sa.Select:
    """Email and mailbox digest of everyone up the chain of referrer_id's referrers.

    Built once per user model: putting the recursive query together took ten times
    longer than running it.
    """
    account = ReferralAccount
    columns = (account.user_id, account.referred_by_id, account.deleted_mailbox_digest)
    start = sa.select(account.referred_by_id).where(
        account.user_id == sa.bindparam("referrer_id")
    )
    chain = (
        sa.select(*columns)
        .where(account.user_id == start.scalar_subquery())
        .cte("chain", recursive=True)
    )
    chain = chain.union(
        sa.select(*columns).join(chain, account.user_id == chain.c.referred_by_id)
    )
    return (
        sa.select(user_sql(User).email, chain.c.deleted_mailbox_digest)
        .select_from(chain)
        .outerjoin(User, user_pk(User) == chain.c.user_id)
    )
