"""The signed first-party cookies that carry a captured code and a visitor id.

Every click signs them, so they are plain text under an HMAC timestamp signature
(``CODE|source|visit_id``, and the visitor id) rather than itsdangerous's JSON and
zlib serializer: a third of the click's time went into serializing them.
"""

import functools
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Response, current_app, g, request
from itsdangerous import BadData, TimestampSigner

from referral_site.referrals.models import CaptureSource

# Versioned: cookies of the earlier JSON format fail the signature and are ignored.
_ATTRIBUTION_SALT = "referrals.attribution.v2"
_VISITOR_SALT = "referrals.visitor.v2"
#: Separates the attribution cookie's fields; never part of a normalized code.
_FIELD_SEPARATOR = "|"


@dataclass(frozen=True)
class CapturedCode:
    """What the attribution cookie says: a code, how and when it was captured."""

    code: str
    source: CaptureSource
    captured_at: datetime
    visit_id: int | None


class _RandomIds:
    """Random hex ids read from the OS in blocks: one system call per 256 ids.

    Every first click draws a visitor id, and ``os.urandom`` (as in
    ``secrets.token_hex``) makes a system call each time; reading ahead keeps the
    same source. A forked child discards what its parent read, so no two
    processes hand out the same ids.
    """

    def __init__(self, nbytes: int = 16, per_block: int = 256) -> None:
        self._nbytes = nbytes
        self._block_size = nbytes * per_block
        self._lock = threading.Lock()
        self._discard()
        os.register_at_fork(after_in_child=self._discard)

    def _discard(self) -> None:
        self._block = b""
        self._offset = 0

    def next_hex(self) -> str:
        with self._lock:
            if self._offset >= len(self._block):
                self._block, self._offset = os.urandom(self._block_size), 0
            start, self._offset = self._offset, self._offset + self._nbytes
        return self._block[start : start + self._nbytes].hex()


_visitor_ids = _RandomIds()


def _config(key: str):
    return current_app.config["REFERRALS_" + key]


def _signer(salt: str) -> TimestampSigner:
    return _signer_for(current_app.secret_key, salt)


class _CookieSigner(TimestampSigner):
    """A TimestampSigner that derives its signing key once rather than per cookie."""

    @functools.cached_property
    def _signing_key(self) -> bytes:
        return super().derive_key()

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        if secret_key is None:  # signing: always the newest key
            return self._signing_key
        return super().derive_key(secret_key)


@functools.lru_cache(maxsize=16)
def _signer_for(secret_key: str, salt: str) -> TimestampSigner:
    # Built once per key and salt: every click signs two cookies.
    return _CookieSigner(secret_key, salt=salt)


def window() -> timedelta:
    """How long a captured code may still be attributed."""
    return timedelta(days=_config("ATTRIBUTION_WINDOW_DAYS"))


def read_captured_code() -> CapturedCode | None:
    """The code captured for this visitor, if the cookie is intact and in its window."""
    raw = request.cookies.get(_config("COOKIE_NAME"))
    if not raw:
        return None
    try:
        value, signed_at = _signer(_ATTRIBUTION_SALT).unsign(
            raw, max_age=int(window().total_seconds()), return_timestamp=True
        )
        code, source, visit_id = value.decode().split(_FIELD_SEPARATOR)
        return CapturedCode(
            code=code,
            source=CaptureSource(source),
            captured_at=signed_at,
            visit_id=int(visit_id) if visit_id else None,
        )
    except (BadData, UnicodeDecodeError, ValueError):
        # Tampered, expired or from an older format: ignored, never trusted.
        return None


def visitor_id() -> str:
    """This browser's anonymous id, from its cookie or newly drawn for this response."""
    asked = g.__dict__  # one context-local lookup instead of one per attribute
    if "referrals_visitor_id" in asked:
        return asked["referrals_visitor_id"]
    raw = request.cookies.get(_config("VISITOR_COOKIE_NAME"))
    value = None
    if raw:
        try:
            value = _signer(_VISITOR_SALT).unsign(raw).decode()
        except (BadData, UnicodeDecodeError):
            value = None
    if value is None:
        value = _visitor_ids.next_hex()
        asked["referrals_new_visitor_id"] = True
    asked["referrals_visitor_id"] = value
    return value


def remember(captured: CapturedCode) -> None:
    """Ask for the attribution cookie to be set on this response."""
    g.referrals_capture = captured


def forget() -> None:
    """Ask for the attribution cookie to be removed on this response."""
    g.referrals_forget = True


def should_replace(existing: CapturedCode | None) -> bool:
    """Whether a newly followed link takes over from the one already captured."""
    return existing is None or _config("ATTRIBUTION_MODEL") == "last_touch"


def write_cookies(response: Response) -> Response:
    """Set or clear the cookies the request asked for."""
    asked = g.__dict__  # read once: each attribute of g is a context-local lookup
    captured: CapturedCode | None = asked.pop("referrals_capture", None)
    forget_code = asked.pop("referrals_forget", False)
    new_visitor = asked.pop("referrals_new_visitor_id", False)
    if captured is None and not forget_code and not new_visitor:
        return response
    config = current_app.config
    common = {
        "httponly": True,
        "samesite": "Lax",
        "secure": bool(config["REFERRALS_COOKIE_SECURE"]),
    }
    if captured is not None:
        value = _FIELD_SEPARATOR.join(
            (captured.code, captured.source.value, str(captured.visit_id or ""))
        )
        response.set_cookie(
            config["REFERRALS_COOKIE_NAME"],
            _signer(_ATTRIBUTION_SALT).sign(value).decode(),
            max_age=int(window().total_seconds()),
            **common,
        )
    elif forget_code:
        response.delete_cookie(config["REFERRALS_COOKIE_NAME"], **common)
    if new_visitor:
        response.set_cookie(
            config["REFERRALS_VISITOR_COOKIE_NAME"],
            _signer(_VISITOR_SALT).sign(asked["referrals_visitor_id"]).decode(),
            max_age=int(timedelta(days=365).total_seconds()),
            **common,
        )
    return response
