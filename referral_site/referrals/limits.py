"""Rate limits of the plugin's views, counted by the host's Flask-Limiter or its own.

Views are marked with :func:`rate_limited` when they are defined; the limit is
bound to the app's limiter on first use, once per limiter, so a host may hand the
plugin its own ``Limiter`` (one storage, one configuration) and may apply the
plugin's signup limit to its own signup view.
"""

import math
import time
import weakref
from collections.abc import Callable
from functools import wraps

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

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


def code_misses():
    """The code-guessing limit, as a context manager (raises 429 past it)."""
    limiter = app_limiter()
    views = _DECORATED.setdefault(limiter, {})
    if "code misses" not in views:
        views["code misses"] = limiter.limit(config_limit("CODE_MISSES"))
    return views["code misses"]


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
