"""Comparing a migrated database with the models, expression indexes included."""

import warnings

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from referral_site.extensions import db


def schema_drift(app) -> list:
    """What differs between the app's database and its models (empty: nothing)."""
    # Neither SQLAlchemy nor Alembic compares expression indexes (users by
    # lower(name)): they warn and skip them, so their names are checked here.
    with (
        app.app_context(),
        db.engine.connect() as connection,
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", ".*expression-based index")
        warnings.filterwarnings("ignore", ".*functional index")
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        drift = compare_metadata(context, db.metadata)
        missing = _EXPRESSION_INDEXES - _index_names(connection)
        return drift + [("missing expression index", name) for name in missing]


#: Indexes on expressions, which the drift comparison cannot see.
_EXPRESSION_INDEXES = {"ix_users_name_lower"}


def _index_names(connection) -> set[str]:
    if connection.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        query = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    return set(connection.scalars(sa.text(query)))
