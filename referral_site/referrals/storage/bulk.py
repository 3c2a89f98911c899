"""Rows into one table at once: COPY on PostgreSQL, an executemany elsewhere, and
inserts that skip the rows already there.

The visit buffer writes each worker's clicks about every second, and seed-demo
writes millions of rows. On PostgreSQL an executemany INSERT costs the worker about
10 µs of Python a row, all of it holding the interpreter lock its requests wait
for; COPY streams the same rows for about a third of that, and the server reads one
stream instead of a statement a row.
"""

import functools
import importlib
from collections.abc import Sequence

import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy.engine import Connection, CursorResult


def insert_rows(connection: Connection, table: sa.Table, rows: Sequence[dict]) -> None:
    """Insert rows (mappings with the same keys) in the connection's transaction.

    Errors are SQLAlchemy's whichever way the rows go (an IntegrityError for a row
    the database refuses), and the transaction is left to the caller.
    """
    if not rows:
        return
    columns = list(rows[0])
    if _can_copy(connection, table, columns):
        _copy(connection, table, columns, rows)
    else:
        connection.execute(sa.insert(table), rows)


def _can_copy(connection: Connection, table: sa.Table, columns: list[str]) -> bool:
    dialect = connection.dialect
    if (dialect.name, dialect.driver) != ("postgresql", "psycopg"):
        return False
    # COPY sends only what the rows hold: a default computed in Python (which an
    # INSERT would fill in) must already be there.
    return all(
        column.name in columns
        for column in table.columns
        if column.default is not None and not column.default.is_sequence
    )


def _copy(
    connection: Connection, table: sa.Table, columns: list[str], rows: Sequence[dict]
) -> None:
    dialect = connection.dialect
    quote = dialect.identifier_preparer
    statement = (
        f"COPY {quote.format_table(table)} "
        f"({', '.join(quote.quote(name) for name in columns)}) FROM STDIN"
    )
    # The values an INSERT would hand the driver: enums as their values, UTC times.
    processors = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        for name in columns
    ]
    conversions = [
        (index, process) for index, process in enumerate(processors) if process
    ]
    driver_connection = connection.connection.driver_connection
    try:
        with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                values = [row[name] for name in columns]
                for index, process in conversions:
                    values[index] = process(values[index])
                copy.write_row(values)
    except dialect.loaded_dbapi.Error as error:
        raise sa.exc.DBAPIError.instance(
            statement, None, error, dialect.loaded_dbapi.Error
        ) from error


def insert_missing(
    connection: Connection,
    table: sa.Table,
    rows: Sequence[dict],
    keys: tuple[str, ...],
    returning: tuple[str, ...] = (),
) -> CursorResult:
    """Insert the rows whose keys are not in the table yet; leave the others alone.

    One ``INSERT ... ON CONFLICT (keys) DO NOTHING``: a row that is there already
    (a racing transaction's included: PostgreSQL waits for it to commit) is
    skipped without failing the transaction, and without the SAVEPOINT round
    trips a caught IntegrityError needs. ``returning`` reads back columns of the
    rows inserted, none of the skipped ones.
    """
    statement = _insert_missing(connection.dialect.name, table, keys, returning)
    return connection.execute(statement, rows[0] if len(rows) == 1 else list(rows))


@functools.cache
def _insert_missing(dialect: str, table: sa.Table, keys, returning) -> sa.Insert:
    statement = dialect_insert(dialect, table).on_conflict_do_nothing(
        index_elements=list(keys)
    )
    if returning:
        statement = statement.returning(*(table.c[name] for name in returning))
    return statement


def dialect_insert(dialect: str, table: sa.Table) -> sa.Insert:
    """The dialect's INSERT (with ON CONFLICT) of ``table``: PostgreSQL's or SQLite's.

    The dialect's module is imported on first use: a worker on SQLite is spared
    PostgreSQL's (2 MiB), and one on PostgreSQL SQLite's.
    """
    module = "postgresql" if dialect == "postgresql" else "sqlite"
    return importlib.import_module(f"sqlalchemy.dialects.{module}").insert(table)
