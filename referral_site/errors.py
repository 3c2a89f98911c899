"""Friendly error pages; the 500 handler rolls back whatever the request left open."""

from flask import Flask, render_template

from referral_site.extensions import db

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
    return render_template(
        "errors/error.html", code=code, title=title, error=error
    ), code
