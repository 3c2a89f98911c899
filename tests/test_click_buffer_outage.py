"""Buffered clicks outlive a database outage, logged as one line, not tracebacks."""

import logging

import sqlalchemy as sa

from referral_site.referrals.storage.models import Visit
from tests.conftest import scalar

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}


def _cache_the_code(app, client, code) -> None:
    """One click: the code is in the worker's cache for the clicks that follow."""
    assert client.get(f"/r/{code}", headers=BROWSER).status_code == 302


def test_clicks_buffered_during_an_outage_are_written_when_it_ends(
    database, make_user, caplog
):
    app = database.app(REFERRALS_VISIT_BUFFER_SECONDS=60)
    _, code = make_user()
    buffer = app.extensions["referrals"].visit_buffer
    client = app.test_client()
    _cache_the_code(app, client, code)
    database.away(app)
    for _ in range(5):
        assert client.get(f"/r/{code}", headers=BROWSER).status_code == 302
    caplog.set_level(logging.INFO, logger="referral_site")
    for _ in range(3):  # three flushes while the database is away
        assert buffer.flush() == 0
    assert buffer.pending() == 6
    warnings = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.endswith("visit_buffer")
    ]
    assert len(warnings) == 1 and "6 kept" in warnings[0].getMessage()
    assert not any(record.exc_info for record in caplog.records)  # no traceback
    database.back(app)
    assert buffer.flush() == 6
    assert scalar(app, sa.select(sa.func.count(Visit.id))) == 6
    assert "6 buffered clicks written" in caplog.records[-1].getMessage()


def test_a_batch_whose_commit_went_unanswered_is_not_written_twice(database, make_user):
    app = database.app(REFERRALS_VISIT_BUFFER_SECONDS=60)
    _, code = make_user()
    buffer = app.extensions["referrals"].visit_buffer
    client = app.test_client()
    _cache_the_code(app, client, code)
    for _ in range(3):
        client.get(f"/r/{code}", headers=BROWSER)
    database.away(app)
    assert buffer.flush() == 0
    database.back(app)
    # The try that failed did commit (its answer was lost on the way back): the
    # same batch, written under its id before the retry.
    [(batch_id, rows)] = buffer._unsure
    assert buffer._write(batch_id, rows) is True
    assert buffer.flush() == 0  # the retry finds it written
    assert buffer.pending() == 0
    assert scalar(app, sa.select(sa.func.count(Visit.id))) == 4
