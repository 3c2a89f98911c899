"""Rate limits of the plugin's views, counted by the host's Flask-Limiter or its own.

Views are marked with :func:`rate_limited` when they are defined; the limit is
bound to the app's limiter on first use, once per limiter, so a host may hand the
plugin its own ``Limiter`` (one storage, one configuration) and may apply the
plugin's signup limit to its own signup view.
"""

import math
import threading
import time
import weakref
from collections.abc import Callable
from functools import wraps

from flask import Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import TooManyRequests

#: Views already decorated, per limiter: a limiter counts a decorated view once,
#: however many apps (tests, several hosts) share it.
_DECORATED: "weakref.WeakKeyDictionary[Limiter, dict]" = weakref.WeakKeyDictionary()
#: Limiters already told to let valid referral links through.
_PREPARED: "weakref.WeakSet[Limiter]" = weakref.WeakSet()


def config_limit(key: str) -> Callable[[], str]:
    """The limit string REFERRALS_RATELIMIT_<key>, read when a request comes."""
    return lambda: current_app.config["REFERRALS_RATELIMIT_" + key]


def app_limiter() -> Limiter:
    """The limiter counting the current app's requests for the plugin."""
    return current_app.extensions["referrals"].limiter


def rate_limited(key: str, methods: tuple[str, ...] = ("POST",)):
    """Count a view's requests of these methods against REFERRALS_RATELIMIT_<key>.

    Works on the host's own views too: ``rate_limited("SIGNUP")`` on its signup.
    """

    def decorator(view):
        @wraps(view)
        def limited(*args, **kwargs):
            if request.method not in methods:
                return view(*args, **kwargs)
            return _decorated(app_limiter(), view, key)(*args, **kwargs)

        return limited

    return decorator


def _decorated(limiter: Limiter, view, key: str):
    views = _DECORATED.setdefault(limiter, {})
    decorated = views.get((view, key))
    if decorated is None:
        decorated = views.setdefault(
            (view, key), limiter.limit(config_limit(key))(view)
        )
    return decorated


def _shared(name: str, key: str, **options):
    """One limit counted across every endpoint that applies it (a shared scope),
    made once per limiter."""
    limiter = app_limiter()
    views = _DECORATED.setdefault(limiter, {})
    if name not in views:
        views[name] = limiter.shared_limit(config_limit(key), scope=name, **options)
    return views[name]


def code_misses():
    """The code-guessing limit, as a context manager (raises 429 past it).

    One count per client for /r/<code> and ?ref=<code> alike.
    """
    return _shared("referrals-code-misses", "CODE_MISSES")


def count_code_miss() -> None:
    """Count an unknown code; past the limit, remember the client as a guesser
    (see :class:`Guessers`) and raise RateLimitExceeded (429)."""
    try:
        with code_misses():
            pass
    except RateLimitExceeded:
        wait = seconds_until_reset() or 60
        current_app.extensions["referrals"].guessers.add(
            request.remote_addr, time.monotonic() + wait
        )
        raise


def refuse_known_guesser() -> None:
    """429 for a client past the code-guessing limit, whatever code it sent: a
    valid code must answer exactly as an unknown one, or each guess would still
    tell which codes are real."""
    guessers = current_app.extensions["referrals"].guessers
    wait = guessers.seconds_left(request.remote_addr)
    if wait:
        raise TooManyRequests("Too many unknown referral codes.", retry_after=wait)


def api_auth_failures():
    """The limit on failed API authentication, as a context manager: checked
    before the key is compared (a limited client gets 429 whatever key it
    sends, so guessing learns nothing), counted only when the answer is 401."""
    return _shared(
        "referrals-api-auth-failures",
        "API_AUTH_FAILURES",
        deduct_when=lambda response: response.status_code == 401,
    )


class Guessers:
    """Clients past the code-guessing limit, until it lets them in again.

    Kept in the worker's memory, so a click costs no limiter lookup: valid links
    skip the limiter, and only this set stops a known guesser from telling valid
    codes (a redirect with a cookie) from unknown ones (a 429). A worker learns
    of a client at its first unknown code past the limit (the count itself is
    shared when the limiter's storage is).
    """

    def __init__(self, most: int = 10_000) -> None:
        self._until: dict[str, float] = {}
        self._most = most
        self._lock = threading.Lock()

    def add(self, address: str | None, until: float) -> None:
        if not address:
            return
        with self._lock:
            if len(self._until) >= self._most:
                self._forget_expired()
            if len(self._until) >= self._most:  # still full: drop the oldest
                self._until.pop(next(iter(self._until)))
            self._until[address] = until

    def seconds_left(self, address: str | None) -> int:
        """Seconds until this client may try codes again (0: it may now)."""
        until = self._until.get(address) if self._until else None
        if until is None:
            return 0
        left = until - time.monotonic()
        if left <= 0:
            with self._lock:
                self._until.pop(address, None)
            return 0
        return math.ceil(left)

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for address in [a for a, until in self._until.items() if until <= now]:
            del self._until[address]


def seconds_until_reset() -> int | None:
    """Seconds until the limit this request breached lets the client in again."""
    current = app_limiter().current_limit
    if current is None:
        return None
    return max(1, math.ceil(current.reset_at - time.time()))


def init_app(app: Flask, limiter: Limiter | None) -> Limiter:
    """The limiter the plugin counts with: the host's, or one of its own."""
    if limiter is None:
        limiter = Limiter(key_func=get_remote_address)
        app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
        app.config.setdefault("RATELIMIT_ENABLED", True)
        # A refused visitor (or client) is told when to come back: Retry-After.
        app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
        limiter.init_app(app)
    elif limiter not in app.extensions.get("limiter", ()):
        limiter.init_app(app)
    if limiter not in _PREPARED:
        _PREPARED.add(limiter)
        _skip_valid_links(limiter)
    return limiter


def _skip_valid_links(limiter: Limiter) -> None:
    from referral_site.referrals.capture.views import follow, valid_link_followed

    limiter.exempt(follow)
    limiter.request_filter(valid_link_followed)
