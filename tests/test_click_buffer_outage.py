"""Buffered clicks outlive a database outage, logged as one line, not tracebacks."""

import logging

import sqlalchemy as sa

from referral_site.extensions import db
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


def test_clicks_kept_while_no_pooled_connection_is_free_log_no_traceback(
    make_app, make_user, caplog
):
    # The buffer's thread shares the worker's pool: with every connection taken
    # by requests stuck on a hung database, its flush times out waiting for one.
    pool = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2}
    app = make_app(REFERRALS_VISIT_BUFFER_SECONDS=60, SQLALCHEMY_ENGINE_OPTIONS=pool)
    _, code = make_user()
    buffer = app.extensions["referrals"].visit_buffer
    _cache_the_code(app, app.test_client(), code)
    caplog.set_level(logging.INFO, logger="referral_site")
    with app.app_context():
        held = db.engine.connect()
        held.execute(sa.text("SELECT 1"))
        try:
            flushed = [buffer.flush(), buffer.flush()]
        finally:
            held.close()
    assert flushed == [0, 0] and buffer.pending() == 1
    warnings = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.endswith("visit_buffer")
    ]
    assert len(warnings) == 1 and "1 kept" in warnings[0].getMessage()
    assert not any(record.exc_info for record in caplog.records)  # no traceback
    assert buffer.flush() == 1
    assert scalar(app, sa.select(sa.func.count(Visit.id))) == 1
