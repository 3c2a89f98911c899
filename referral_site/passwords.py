"""Password hashing with argon2id, parameters from the app config."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from referral_site.config import Config

#: Verified against when an email is unknown, so a miss costs as much as a hit.
_DUMMY_PASSWORD = "not-a-real-password"  # noqa: S105


def _hasher() -> PasswordHasher:
    """The hasher for the current app, built once per app."""
    hasher = current_app.extensions.get("password_hasher")
    if hasher is None:
        # .get with the site's defaults: a host app using this User may not set them.
        config = current_app.config
        hasher = PasswordHasher(
            time_cost=config.get(
                "PASSWORD_HASH_TIME_COST", Config.PASSWORD_HASH_TIME_COST
            ),
            memory_cost=config.get(
                "PASSWORD_HASH_MEMORY_KIB", Config.PASSWORD_HASH_MEMORY_KIB
            ),
            parallelism=config.get(
                "PASSWORD_HASH_PARALLELISM", Config.PASSWORD_HASH_PARALLELISM
            ),
        )
        current_app.extensions["password_hasher"] = hasher
    return hasher


def hash_password(password: str) -> str:
    """Return an argon2id hash of the password."""
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password against a stored hash; with no hash, spend the same time."""
    hasher = _hasher()
    if password_hash is None:
        _verify_quietly(hasher, _dummy_hash(hasher), password)
        return False
    return _verify_quietly(hasher, password_hash, password)


def _dummy_hash(hasher: PasswordHasher) -> str:
    """The stand-in hash for unknown emails, made once per app (not per miss)."""
    dummy = current_app.extensions.get("password_dummy_hash")
    if dummy is None:
        dummy = hasher.hash(_DUMMY_PASSWORD)
        current_app.extensions["password_dummy_hash"] = dummy
    return dummy


def needs_rehash(password_hash: str) -> bool:
    """True when the stored hash was made with other parameters than today's."""
    try:
        return _hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def _verify_quietly(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
