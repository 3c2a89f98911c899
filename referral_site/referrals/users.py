"""How the plugin reads the host's users: name, email, admin flag, verified email,
disabled flag.

Each is a callable that takes the user model (giving a SQL expression, for
queries) or a user (giving the value). They come from ``REFERRALS_USER_NAME``,
``REFERRALS_USER_EMAIL``, ``REFERRALS_USER_IS_ADMIN``,
``REFERRALS_USER_EMAIL_VERIFIED`` and ``REFERRALS_USER_IS_DISABLED``: an attribute
name or a callable; empty picks a default from the attributes the model has.
"""

import operator
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, current_app

from referral_site.referrals.storage.db import user_pk, user_pk_value

#: Attributes tried, in order, for a user's display name.
NAME_ATTRIBUTES = ("name", "username", "display_name", "email")
#: Attributes tried, in order, for whether a user's email address is verified: a
#: time (set means verified) or a boolean.
VERIFIED_ATTRIBUTES = ("email_verified_at", "email_verified", "confirmed_at")


@dataclass(frozen=True)
class UserFields:
    """The accessors of one host's user model."""

    name: Callable
    email: Callable
    is_admin: Callable
    #: Whether a user's email is verified; None when the host has no such state.
    email_verified: Callable | None = None
    #: The attribute the plugin's verification page sets (None: it cannot).
    email_verified_attribute: str | None = None
    #: Whether an account is disabled (a SQL condition on the model); None when
    #: the host has no such notion.
    is_disabled: Callable | None = None


def _never(_user) -> bool:
    return False


def _accessor(configured, default: str | None) -> Callable:
    if callable(configured):
        return configured
    attribute = configured or default
    return operator.attrgetter(attribute) if attribute else _never


def fields_for(app: Flask, user_model: type) -> UserFields:
    """Resolve the configured (or default) accessors against the user model."""
    config = app.config
    name = next((a for a in NAME_ATTRIBUTES if hasattr(user_model, a)), None)
    if not (config["REFERRALS_USER_NAME"] or name):
        raise TypeError(
            f"{user_model.__name__} has none of {', '.join(NAME_ATTRIBUTES)}: set "
            "REFERRALS_USER_NAME to the attribute (or a callable) naming a user."
        )
    admin = "is_admin" if hasattr(user_model, "is_admin") else None
    verified = config["REFERRALS_USER_EMAIL_VERIFIED"]
    if not verified:
        verified = next((a for a in VERIFIED_ATTRIBUTES if hasattr(user_model, a)), "")
    disabled = config["REFERRALS_USER_IS_DISABLED"] or (
        "is_disabled" if hasattr(user_model, "is_disabled") else None
    )
    return UserFields(
        name=_accessor(config["REFERRALS_USER_NAME"], name),
        email=_accessor(config["REFERRALS_USER_EMAIL"], "email"),
        is_admin=_accessor(config["REFERRALS_USER_IS_ADMIN"], admin),
        email_verified=_accessor(verified, None) if verified else None,
        email_verified_attribute=verified if isinstance(verified, str) else None,
        is_disabled=_accessor(disabled, None) if disabled else None,
    )


def user_fields() -> UserFields:
    """The current app's accessors."""
    return current_app.extensions["referrals"].users


@dataclass(frozen=True)
class UserColumns:
    """A user model's (or alias's) key, name and email as SQL expressions."""

    id: object
    name: object
    email: object


def user_sql(entity) -> UserColumns:
    """The key, name and email of the user model (or an alias of it) for queries.

    Labelled ``name`` and ``email``, so result rows read alike on every host.
    """
    fields = user_fields()
    mapper = sa.inspect(entity).mapper
    (column,) = mapper.primary_key
    # Through the entity's attribute: an alias has its own copy of the column.
    key = getattr(entity, mapper.get_property_by_column(column).key)
    return UserColumns(
        id=key.label("id"),
        name=fields.name(entity).label("name"),
        email=fields.email(entity).label("email"),
    )


def current_user_id():
    """The signed-in user's primary key (Flask-Login's current_user)."""
    from flask_login import current_user

    return user_pk_value(current_user._get_current_object())


def is_admin(user) -> bool:
    """Whether this user (or Flask-Login's anonymous user) is an admin."""
    return bool(getattr(user, "is_authenticated", False)) and bool(
        user_fields().is_admin(user)
    )


def email_is_verified(user) -> bool:
    """Whether this user's email address is verified (False if the host cannot say)."""
    accessor = user_fields().email_verified
    return accessor is not None and bool(accessor(user))


def mark_email_verified(user) -> bool:
    """Set the user's verified state, if the host's model has an attribute for it."""
    attribute = user_fields().email_verified_attribute
    if attribute is None:
        return False
    if not getattr(user, attribute, None):
        from referral_site.referrals.storage.models import utcnow

        setattr(user, attribute, True if _is_flag(type(user), attribute) else utcnow())
    return True


def _is_flag(user_model: type, attribute: str) -> bool:
    """Whether the model's attribute is a boolean column (else a time is stored)."""
    try:
        return getattr(user_model, attribute).type.python_type is bool
    except (AttributeError, NotImplementedError):
        return False


def integer_keys(user_model: type) -> bool:
    """Whether the host's users are keyed by integers (else by strings, UUIDs...)."""
    try:
        return user_pk(user_model).type.python_type is int
    except NotImplementedError:
        return False


def user_id_error(value: object) -> str | None:
    """What is wrong with a user id given from outside (the API), or None."""
    user_model = current_app.extensions["referrals"].user_model
    if integer_keys(user_model):
        # Bounded so an absurd number is a 400, not an overflow in the database.
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31:
            return None
        return "A positive whole number."
    longest = getattr(user_pk(user_model).type, "length", None) or 255
    if isinstance(value, str) and 0 < len(value) <= longest and value.isprintable():
        return None
    return f"A user id of at most {longest} characters."
