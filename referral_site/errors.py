"""Friendly error pages; the 500 handler rolls back whatever the request left open."""

from flask import Flask, render_template
from flask_limiter import RateLimitExceeded

from referral_site.extensions import db, seconds_until_limit_resets
from referral_site.outages import database_unavailable
from referral_site.referrals import DATABASE_OUTAGES

_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    429: "Too many requests",
    500: "Something went wrong",
}


def register(app: Flask) -> None:
    """Install the error handlers on the app."""
    for code in _TITLES:
        app.register_error_handler(code, _render)


def _render(error):
    code = getattr(error, "code", None) or 500
    if code >= 500:
        db.session.rollback()
    title = _TITLES.get(code, "Error")
    retry_after = _retry_after(error) if code == 429 else None
    try:
        # The layout reads current_user, which may load the user from the database.
        response = render_template(
            "errors/error.html",
            code=code,
            title=title,
            error=error,
            retry_after=retry_after,
        )
    except DATABASE_OUTAGES as outage:
        return database_unavailable(outage)
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return response, code, headers


def _retry_after(error) -> int | None:
    """Seconds until the breached rate limit lets the client in again."""
    if not isinstance(error, RateLimitExceeded):
        return getattr(error, "retry_after", None)
    return seconds_until_limit_resets()
