"""The console's search of people reads indexes, never a whole table, on each database;
on PostgreSQL its funnel counts a period's converted signups on the partial index of
converted referrals.

At a million users a scan of the users table is what would make a search slow
(bench/scale.py times it); the plans say whether one is there. On PostgreSQL,
sequential scans are priced out for the check: with a few test rows the planner
would rightly prefer them, and what matters is that an index can answer.
"""

import pytest
import sqlalchemy as sa

from referral_site.extensions import db
from referral_site.referrals.admin import directory
from referral_site.referrals.reports import figures
from tests.conftest import POSTGRES_URL


def _plans(app, run) -> list[str]:
    """Every line of the plans of the queries run() issues."""
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    with app.app_context():
        engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            run()
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
    plans = _plans(
        app, lambda: directory.search_people(directory.Search(text=text), 1, 25)
    )
    assert plans
    for table in ("users", "referral_codes", "referrals", "referral_accounts"):
        scans = [
            line
            for line in plans
            if f"SCAN {table}" in line or f"Seq Scan on {table}" in line
        ]
        assert scans == [], (text, scans)


@pytest.mark.skipif(
    not POSTGRES_URL,
    reason="SQLite's planner prefers the covering (created_at, converted_at) index",
)
def test_the_funnel_counts_converted_signups_on_the_converted_referrals_index(
    app, make_user
):
    _, code = make_user("ann@example.com", "Ann")
    make_user("bob@example.com", "Bob", code=code)
    period = figures.date_range("30d")
    plans = _plans(app, lambda: figures.converted_cohort(period))
    assert plans
    assert any("ix_referrals_created_where_converted" in line for line in plans), plans
