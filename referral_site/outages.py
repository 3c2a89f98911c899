"""503 answers for a database or Redis that is away: rendered without either.

The error page's layout reads ``current_user``; loading (or refreshing) the signed-in
user is a database query, which is what just failed. So the outage page is
rendered for an anonymous visitor, and the limiter's headers are left off: its
``Retry-After`` counts to the end of a rate-limit window (up to an hour), not to
when the service is expected back.
"""

import logging

from flask import current_app, g, jsonify, render_template, request

from referral_site.extensions import db, limiter

logger = logging.getLogger(__name__)

#: Seconds a client is asked to wait before retrying after an outage answer.
RETRY_AFTER_SECONDS = 5


def database_unavailable(error):
    """The database is down, read-only or too slow: say so, keep nothing half-done."""
    logger.warning("database unavailable: %s", _first_line(error))
    _discard_session()
    return unavailable()


def unavailable():
    """A 503 page (JSON under /api/) that touches neither the database nor Redis."""
    g._login_user = current_app.login_manager.anonymous_user()
    limiter.context.view_rate_limit = None  # no limiter Retry-After on top
    if request.path.startswith("/api/") or request.accept_mimetypes.best == (
        "application/json"
    ):
        response = jsonify(error="service_unavailable", detail="Please retry shortly.")
    else:
        response = render_template(
            "errors/error.html", code=503, title="Temporarily unavailable", error=None
        )
    return response, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _discard_session() -> None:
    """Roll back; a connection that dropped mid-transaction may refuse even that."""
    try:
        db.session.rollback()
    except Exception as error:  # noqa: BLE001 - the answer is a 503 whatever
        logger.warning("rollback after an outage failed: %s", _first_line(error))
        db.session.close()


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    return (str(original).strip().splitlines() or [type(original).__name__])[0]
