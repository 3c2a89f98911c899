"""The signed first-party cookies that carry a captured code and a visitor id."""

import functools
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Response, current_app, g, request
from itsdangerous import BadData, URLSafeTimedSerializer

from referral_site.referrals.models import CaptureSource

_ATTRIBUTION_SALT = "referrals.attribution"
_VISITOR_SALT = "referrals.visitor"


@dataclass(frozen=True)
class CapturedCode:
    """What the attribution cookie says: a code, how and when it was captured."""

    code: str
    source: CaptureSource
    captured_at: datetime
    visit_id: int | None


def _config(key: str):
    return current_app.config["REFERRALS_" + key]


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return _serializer_for(current_app.secret_key, salt)


@functools.lru_cache(maxsize=16)
def _serializer_for(secret_key: str, salt: str) -> URLSafeTimedSerializer:
    # Built once per key and salt: every click signs two cookies.
    return URLSafeTimedSerializer(secret_key, salt=salt)


def window() -> timedelta:
    """How long a captured code may still be attributed."""
    return timedelta(days=_config("ATTRIBUTION_WINDOW_DAYS"))


def read_captured_code() -> CapturedCode | None:
    """The code captured for this visitor, if the cookie is intact and in its window."""
    raw = request.cookies.get(_config("COOKIE_NAME"))
    if not raw:
        return None
    try:
        data = _serializer(_ATTRIBUTION_SALT).loads(
            raw, max_age=int(window().total_seconds())
        )
        return CapturedCode(
            code=str(data["c"]),
            source=CaptureSource(data["s"]),
            captured_at=datetime.fromtimestamp(int(data["t"]), UTC),
            visit_id=int(data["v"]) if data.get("v") is not None else None,
        )
    except (BadData, KeyError, TypeError, ValueError):
        # Tampered, expired or from an older format: ignored, never trusted.
        return None


def visitor_id() -> str:
    """This browser's anonymous id, from its cookie or newly drawn for this response."""
    if "referrals_visitor_id" in g:
        return g.referrals_visitor_id
    raw = request.cookies.get(_config("VISITOR_COOKIE_NAME"))
    value = None
    if raw:
        try:
            value = str(_serializer(_VISITOR_SALT).loads(raw))
        except BadData:
            value = None
    if value is None:
        value = secrets.token_hex(16)
        g.referrals_new_visitor_id = True
    g.referrals_visitor_id = value
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
    name = _config("COOKIE_NAME")
    common = {
        "httponly": True,
        "samesite": "Lax",
        "secure": bool(_config("COOKIE_SECURE")),
    }
    captured: CapturedCode | None = g.pop("referrals_capture", None)
    if captured is not None:
        payload = {
            "c": captured.code,
            "s": captured.source.value,
            "t": int(captured.captured_at.timestamp()),
            "v": captured.visit_id,
        }
        response.set_cookie(
            name,
            _serializer(_ATTRIBUTION_SALT).dumps(payload),
            max_age=int(window().total_seconds()),
            **common,
        )
    elif g.pop("referrals_forget", False):
        response.delete_cookie(name, **common)
    if g.pop("referrals_new_visitor_id", False):
        response.set_cookie(
            _config("VISITOR_COOKIE_NAME"),
            _serializer(_VISITOR_SALT).dumps(g.referrals_visitor_id),
            max_age=int(timedelta(days=365).total_seconds()),
            **common,
        )
    return response
