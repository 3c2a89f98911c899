"""Input fit to store: text without control characters, ids that fit their column.

Checked where input arrives (forms, the API, URL converters), so a value the
database would refuse (PostgreSQL: NUL in text, integers past the column's type)
or store as garbage (SQLite keeps NUL bytes) never reaches a query.
"""

import re

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from werkzeug.routing import IntegerConverter, UnicodeConverter, ValidationError

#: C0 and C1 control characters (NUL included), DEL and lone surrogates (which
#: cannot be encoded to UTF-8): no single-line field means them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: The same, but tab and line breaks, which a multi-line field may hold.
_CONTROL_BUT_LAYOUT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: What a form or the API says about such a value.
CONTROL_CHARACTERS_MESSAGE = (
    "Remove the control characters (such as NUL or line breaks) from this value."
)


def has_control_characters(text: str, *, multiline: bool = False) -> bool:
    """Whether text holds characters no field means (multi-line: tabs and line
    breaks allowed)."""
    pattern = _CONTROL_BUT_LAYOUT if multiline else _CONTROL
    return pattern.search(text) is not None


def without_control_characters(text: str) -> str:
    """The text with its control characters removed (for values recorded as seen,
    such as a landing path)."""
    return _CONTROL.sub("", text)


def control_characters_anywhere(value: object) -> bool:
    """Whether a decoded JSON value holds control characters in any string, key or
    value, however deeply nested."""
    if isinstance(value, str):
        return has_control_characters(value)
    if isinstance(value, dict):
        return any(
            control_characters_anywhere(key) or control_characters_anywhere(item)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return any(control_characters_anywhere(item) for item in value)
    return False


def largest_integer(column_type: sa.types.TypeEngine, dialect: Dialect) -> int:
    """The largest value an integer column of this type holds on this database.

    SQLite stores every integer in up to 8 bytes; the others size the column by
    its type (PostgreSQL's integer is 4 bytes, bigint 8, smallint 2).
    """
    if dialect.name == "sqlite":
        return 2**63 - 1
    resolved = column_type.dialect_impl(dialect)
    if isinstance(resolved, sa.BigInteger):
        return 2**63 - 1
    if isinstance(resolved, sa.SmallInteger):
        return 2**15 - 1
    return 2**31 - 1


def id_converter(largest: int) -> type[IntegerConverter]:
    """A URL converter of ids from 1 to ``largest``: a larger id names nothing,
    so its URL matches no route (a 404) instead of overflowing a query."""

    class BoundedId(IntegerConverter):
        def __init__(self, map, *args, **kwargs) -> None:
            kwargs.setdefault("min", 1)
            kwargs.setdefault("max", largest)
            super().__init__(map, *args, **kwargs)

    return BoundedId


def text_key_converter(longest: int) -> type[UnicodeConverter]:
    """A URL converter of string keys up to ``longest`` characters, without
    control characters: anything else matches no route (a 404)."""

    class TextKey(UnicodeConverter):
        def __init__(self, map, *args, **kwargs) -> None:
            kwargs.setdefault("maxlength", longest)
            super().__init__(map, *args, **kwargs)

        def to_python(self, value: str) -> str:
            if has_control_characters(value):
                raise ValidationError()
            return value

    return TextKey
