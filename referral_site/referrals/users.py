"""How the plugin reads the host's users: display name, email and admin flag.

Each is a callable that takes the user model (giving a SQL expression, for
queries) or a user (giving the value). They come from ``REFERRALS_USER_NAME``,
``REFERRALS_USER_EMAIL``, ``REFERRALS_USER_IS_ADMIN`` and
``REFERRALS_USER_IS_DISABLED``: an attribute name or a callable; empty picks a
default from the attributes the model has.
"""

import operator
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, current_app

from referral_site.referrals.storage.db import user_pk, user_pk_value

#: Attributes tried, in order, for a user's display name.
NAME_ATTRIBUTES = ("name", "username", "display_name", "email")


@dataclass(frozen=True)
class UserFields:
    """The accessors of one host's user model."""

    name: Callable
    email: Callable
    is_admin: Callable
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
    disabled = config["REFERRALS_USER_IS_DISABLED"] or (
        "is_disabled" if hasattr(user_model, "is_disabled") else None
    )
    return UserFields(
        name=_accessor(config["REFERRALS_USER_NAME"], name),
        email=_accessor(config["REFERRALS_USER_EMAIL"], "email"),
        is_admin=_accessor(config["REFERRALS_USER_IS_ADMIN"], admin),
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
