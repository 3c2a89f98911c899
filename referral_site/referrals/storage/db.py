"""The host's database as the plugin sees it, and the base of the plugin's tables.

The plugin's models are mapped once, on a declarative base of its own; at
``init_app`` their tables are also declared on the host's ``SQLAlchemy()``
metadata, with foreign keys to the host's user table, so the host's
table creation, Alembic autogenerate and ``flask db check`` see them. Queries run
on the host's session: :data:`db` stands for the current app's instance.
"""

import weakref
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.types import TypeEngine

#: The plugin's constraint names, whatever convention (if any) the host uses.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
#: Column.info key marking a reference to the host's user ("" or an ON DELETE).
USER_FK = "referrals_user_fk"
#: Table.info key marking the plugin's tables in the host's metadata.
PLUGIN_TABLE = "referrals_table"


class Base(DeclarativeBase):
    """Declarative base of the plugin's own tables."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class HostDatabase:
    """The current app's Flask-SQLAlchemy instance, the one given to the plugin."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(current_app.extensions["referrals"].db, name)


#: ``db.session``, ``db.engine``, ``db.paginate``... of the host's database.
db = HostDatabase()


#: The type of the host user's primary key per dialect instance (one per engine,
#: so per host): what a :class:`UserKey` column is in SQL.
_HOST_KEY_TYPES: "weakref.WeakKeyDictionary[Dialect, TypeEngine]" = (
    weakref.WeakKeyDictionary()
)


class UserKey(sa.types.TypeDecorator):
    """A user id as the host stores it: integer, string (UUID)...

    The plugin's models are mapped once for every host in the process, so the
    SQL type is looked up per dialect instance, i.e. per engine: SQLAlchemy
    memoizes it per dialect and caches compiled statements per engine.
    """

    impl = sa.Integer
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine:
        return dialect.type_descriptor(_HOST_KEY_TYPES.get(dialect, self.impl_instance))


def user_pk(user_model: type) -> sa.Column:
    """The host user model's primary key column, whatever it is called."""
    (column,) = sa.inspect(user_model).primary_key
    return column


def user_pk_value(user) -> object:
    """A host user's primary key value, whatever the column is called."""
    (value,) = sa.inspect(user).mapper.primary_key_from_instance(user)
    return value


def user_key(ondelete: str | None = None, **kwargs: Any):
    """A mapped column referring to the host's user (by its primary key)."""
    return mapped_column(UserKey(), info={USER_FK: ondelete or ""}, **kwargs)


def use_host_key_type(engines: Iterable[Engine], user_table: sa.Table) -> None:
    """Let :class:`UserKey` columns take the host's key type on these engines."""
    (user_pk,) = user_table.primary_key.columns
    for engine in engines:
        _HOST_KEY_TYPES[engine.dialect] = user_pk.type


def declare_on_host(metadata: sa.MetaData, user_table: sa.Table) -> None:
    """Declare the plugin's tables on the host's metadata, once per metadata.

    Each copy takes the type of the host user's primary key and a foreign key to
    it, named by the plugin's convention so the plugin's migrations can address it.
    """
    (user_pk,) = user_table.primary_key.columns
    for table in Base.metadata.sorted_tables:
        existing = metadata.tables.get(table.key)
        if existing is not None:
            if not existing.info.get(PLUGIN_TABLE):
                raise RuntimeError(
                    f"The host already has a table named {table.name!r}; "
                    "the referrals plugin needs that name for its own table."
                )
            continue
        copy = table.to_metadata(metadata)
        copy.info[PLUGIN_TABLE] = True
        for column in copy.columns:
            if USER_FK in column.info:
                _refer_to_user(copy, column, user_pk)
            elif isinstance(column.type, sa.types.TypeDecorator):
                # The host's autogenerate renders plain SQLAlchemy types, so its
                # migrations need no import of the plugin (UTCDateTime -> DateTime).
                column.type = column.type.impl_instance


def _refer_to_user(table: sa.Table, column: sa.Column, user_pk: sa.Column) -> None:
    column.type = user_pk.type.copy()
    ondelete = column.info[USER_FK] or None
    name = f"fk_{table.name}_{column.name}_{user_pk.table.name}"
    table.append_constraint(
        sa.ForeignKeyConstraint(
            [column], [user_pk], ondelete=ondelete, name=sa.schema.conv(name)
        )
    )
