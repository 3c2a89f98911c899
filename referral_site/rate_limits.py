"""The shared rate limiter's storage (Redis) and what happens when it fails.

``RATELIMIT_FAILURE_POLICY`` decides, per deployment:

- ``open`` (the default): Flask-Limiter swallows storage errors and counts in each
  worker's memory until Redis answers again (checked with a growing back-off).
  Limits stay on, but per worker, so an address gets up to workers x hosts times
  its limit while Redis is away. Pages keep working.
- ``closed``: every request that needs a limit answers 503 while Redis is away,
  so no limit is ever exceeded; nothing that is rate-limited works meanwhile.

Neither is a 500, and a worker started while Redis is down behaves the same way.
Each Redis call is bounded by ``REDIS_TIMEOUT_S``.
"""

import logging

from flask import Flask

from referral_site.extensions import limiter
from referral_site.outages import unavailable

logger = logging.getLogger(__name__)

POLICIES = ("open", "closed")


def init_app(app: Flask) -> None:
    """Bind the limiter with the configured failure policy and Redis timeouts."""
    policy = str(app.config["RATELIMIT_FAILURE_POLICY"]).strip().lower()
    if policy not in POLICIES:
        raise RuntimeError(
            f"RATELIMIT_FAILURE_POLICY must be one of {', '.join(POLICIES)}, "
            f"not {policy!r}."
        )
    app.config["RATELIMIT_FAILURE_POLICY"] = policy
    app.config["RATELIMIT_SWALLOW_ERRORS"] = policy == "open"
    app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = policy == "open"
    if uses_redis(app):
        timeout = float(app.config["REDIS_TIMEOUT_S"])
        options = dict(app.config.get("RATELIMIT_STORAGE_OPTIONS") or {})
        options.setdefault("socket_timeout", timeout)
        options.setdefault("socket_connect_timeout", timeout)
        app.config["RATELIMIT_STORAGE_OPTIONS"] = options
    _forget_previous_app(limiter)
    limiter.init_app(app)
    for error in _storage_errors():
        app.register_error_handler(error, _storage_unavailable)


def uses_redis(app: Flask) -> bool:
    """Whether the limiter counts in Redis (shared by every worker and host)."""
    return str(app.config.get("RATELIMIT_STORAGE_URI", "")).startswith(
        ("redis://", "rediss://", "redis+")
    )


def _forget_previous_app(shared) -> None:
    # The limiter is one module-level instance; Flask-Limiter keeps these from
    # the first app it was bound to unless they are unset (tests build many apps).
    shared._swallow_errors = None
    shared._in_memory_fallback_enabled = False
    shared._storage_dead = False
    shared._storage_options = {}


def _storage_errors() -> tuple[type[BaseException], ...]:
    from limits.errors import StorageError

    errors: list[type[BaseException]] = [StorageError]
    try:
        from redis.exceptions import RedisError
    except ImportError:  # no Redis client: a memory:// or other storage
        pass
    else:
        errors.append(RedisError)
    return tuple(errors)


def _storage_unavailable(error):
    """Fail closed: the limiter cannot count, so the request is not served."""
    logger.warning("rate-limit storage unavailable: %s", error)
    return unavailable()
