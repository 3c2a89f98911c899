"""The signed first-party cookies that carry a captured code and a visitor id.

Every click signs them, so they are plain text under an HMAC timestamp signature
(``CODE|source|visit_id``, and the visitor id) rather than itsdangerous's JSON and
zlib serializer: a third of the click's time went into serializing them.
"""

import functools
import hashlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, Response, current_app, g, request
from itsdangerous import BadData, TimestampSigner
from werkzeug.http import http_date

from referral_site.referrals.program.cache import program_cache
from referral_site.referrals.storage.models import CaptureSource

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
        self._discard()
        os.register_at_fork(after_in_child=self._discard)

    def _discard(self) -> None:
        # A new lock too: another thread may have held the parent's at the fork.
        self._lock = threading.Lock()
        self._block = b""
        self._offset = 0

    def next_hex(self) -> str:
        with self._lock:
            if self._offset >= len(self._block):
                self._block, self._offset = os.urandom(self._block_size), 0
            start, self._offset = self._offset, self._offset + self._nbytes
        return self._block[start : start + self._nbytes].hex()


_visitor_ids = _RandomIds()


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
def _signer(secret_key: str, salt: str) -> TimestampSigner:
    # Built once per key and salt: every click signs two cookies. hashlib.sha1 is
    # itsdangerous's default digest (the same signatures), named so that hmac takes
    # OpenSSL's path rather than its pure-Python one for a wrapped function.
    return _CookieSigner(secret_key, salt=salt, digest_method=hashlib.sha1)


def _expires_in(seconds: int) -> str:
    """The Expires attribute of a cookie living ``seconds`` from now.

    Formatted once a second rather than by werkzeug for every cookie (about 3 µs
    each, two cookies on a click of about a hundred); the same value it would
    write for max_age.
    """
    return _http_date_at(int(time.time()) + seconds)


@functools.lru_cache(maxsize=8)
def _http_date_at(unix_time: int) -> str:
    return http_date(unix_time)


#: How long the visitor id cookie lives.
VISITOR_ID_LIFETIME = timedelta(days=365)
_VISITOR_LIFETIME_S = int(VISITOR_ID_LIFETIME.total_seconds())


@dataclass(frozen=True)
class CookieCodec:
    """Reads and writes one app's referral cookies, from its secret and settings.

    Explicit rather than bound to the request, so the links' fast path
    (capture/fast_links.py) uses the very same cookies without a request context.
    """

    secret_key: str
    attribution_cookie: str
    visitor_cookie: str
    window: timedelta
    last_touch: bool
    secure: bool

    @classmethod
    def of(cls, app: Flask, *, check_program: bool = True) -> "CookieCodec":
        """The app's codec; the attribution window and model are the program's in
        force (checked now and then; ``check_program=False`` asks no database, for
        the links' fast path, which runs outside an app context)."""
        config = app.config
        programs = program_cache(app)
        program = programs.cached() if check_program else programs.peek()
        return cls(
            secret_key=app.secret_key,
            attribution_cookie=config["REFERRALS_COOKIE_NAME"],
            visitor_cookie=config["REFERRALS_VISITOR_COOKIE_NAME"],
            window=timedelta(days=program.attribution_window_days),
            last_touch=program.attribution_model == "last_touch",
            secure=bool(config["REFERRALS_COOKIE_SECURE"]),
        )

    def captured_code(self, cookies: Mapping[str, str]) -> CapturedCode | None:
        """The captured code, if the cookie is intact and within its window."""
        raw = cookies.get(self.attribution_cookie)
        if not raw:
            return None
        try:
            value, signed_at = _signer(self.secret_key, _ATTRIBUTION_SALT).unsign(
                raw, max_age=int(self.window.total_seconds()), return_timestamp=True
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

    def visitor_id(self, cookies: Mapping[str, str]) -> str | None:
        """The visitor id of an intact cookie, or None."""
        raw = cookies.get(self.visitor_cookie)
        if not raw:
            return None
        try:
            return _signer(self.secret_key, _VISITOR_SALT).unsign(raw).decode()
        except (BadData, UnicodeDecodeError):
            return None

    def should_replace(self, existing: CapturedCode | None) -> bool:
        """Whether a newly followed link takes over from the one already captured."""
        return existing is None or self.last_touch

    def set_cookies(
        self,
        response: Response,
        *,
        captured: CapturedCode | None = None,
        forget: bool = False,
        new_visitor_id: str | None = None,
    ) -> Response:
        """Set (or, with forget, clear) the attribution cookie; set a new visitor's."""
        common = {"httponly": True, "samesite": "Lax", "secure": self.secure}
        if captured is not None:
            value = _FIELD_SEPARATOR.join(
                (captured.code, captured.source.value, str(captured.visit_id or ""))
            )
            lifetime = int(self.window.total_seconds())
            response.set_cookie(
                self.attribution_cookie,
                _signer(self.secret_key, _ATTRIBUTION_SALT).sign(value).decode(),
                max_age=lifetime,
                expires=_expires_in(lifetime),
                **common,
            )
        elif forget:
            response.delete_cookie(self.attribution_cookie, **common)
        if new_visitor_id is not None:
            response.set_cookie(
                self.visitor_cookie,
                _signer(self.secret_key, _VISITOR_SALT).sign(new_visitor_id).decode(),
                max_age=_VISITOR_LIFETIME_S,
                expires=_expires_in(_VISITOR_LIFETIME_S),
                **common,
            )
        return response


def new_visitor_id() -> str:
    """A fresh random visitor id (32 hex digits)."""
    return _visitor_ids.next_hex()


# The current request's cookies, for views: through the codec of current_app.


def _codec() -> CookieCodec:
    """The current app's codec, made once per request (a landing asks four times)."""
    asked = g.__dict__
    codec = asked.get("referrals_cookie_codec")
    if codec is None:
        codec = asked["referrals_cookie_codec"] = CookieCodec.of(current_app)
    return codec


def read_captured_code() -> CapturedCode | None:
    """The code captured for this visitor, if the cookie is intact and in its window."""
    return _codec().captured_code(request.cookies)


def visitor_id() -> str:
    """This browser's anonymous id, from its cookie or newly drawn for this response."""
    asked = g.__dict__  # one context-local lookup instead of one per attribute
    if "referrals_visitor_id" not in asked:
        value = _codec().visitor_id(request.cookies)
        if value is None:
            value = asked["referrals_new_visitor_id"] = new_visitor_id()
        asked["referrals_visitor_id"] = value
    return asked["referrals_visitor_id"]


def remember(captured: CapturedCode) -> None:
    """Ask for the attribution cookie to be set on this response."""
    g.referrals_capture = captured


def forget() -> None:
    """Ask for the attribution cookie to be removed on this response."""
    g.referrals_forget = True


def should_replace(existing: CapturedCode | None) -> bool:
    """Whether a newly followed link takes over from the one already captured."""
    return _codec().should_replace(existing)


def write_cookies(response: Response) -> Response:
    """Set or clear the cookies the request asked for."""
    asked = g.__dict__  # read once: each attribute of g is a context-local lookup
    captured: CapturedCode | None = asked.pop("referrals_capture", None)
    forget_code = asked.pop("referrals_forget", False)
    new_visitor = asked.pop("referrals_new_visitor_id", None)
    if captured is None and not forget_code and new_visitor is None:
        return response
    return _codec().set_cookies(
        response, captured=captured, forget=forget_code, new_visitor_id=new_visitor
    )
