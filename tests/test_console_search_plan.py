"""The console's search of people reads indexes, never a whole table, on each database.

At a million users a scan of the users table is what would make a search slow
(bench/scale.py times it); the plans say whether one is there. On PostgreSQL,
sequential scans are priced out for the check: with a few test rows the planner
would rightly prefer them, and what matters is that an index can answer.
"""

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.admin import directory


def _plans(app, text: str) -> list[str]:
    """Every line of the plans of the queries one search runs."""
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    with app.app_context():
        engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            directory.search_people(directory.Search(text=text), 1, 25)
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)
        lines = []
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if not sqlite:
                connection.exec_driver_sql("SET enable_seqscan = off")
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            for statement, parameters in statements:
                if statement.lstrip().upper().startswith("SELECT"):
                    rows = connection.exec_driver_sql(prefix + statement, parameters)
                    lines += [str(row[-1]) for row in rows]
        return lines


@pytest.mark.parametrize(
    "text", ["ann@example.com", "ann riv", "ANNCODE1", "12", "ANN"]
)
def test_searching_people_reads_indexes_only(app, make_user, text):
    _, code = make_user("ann@example.com", "Ann Rivera")
    make_user("bob@example.com", "Bob", code=code)
    plans = _plans(app, text)
    assert plans
    for table in ("users", "referral_codes", "referrals", "referral_accounts"):
        scans = [
            line
            for line in plans
            if f"SCAN {table}" in line or f"Seq Scan on {table}" in line
        ]
        assert scans == [], (text, scans)
