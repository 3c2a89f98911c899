"""Response headers, proxy trust and database-outage answers for every response."""

from flask import Flask, current_app, jsonify, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.middleware.proxy_fix import ProxyFix

from referral_site.extensions import db

#: No inline scripts or styles anywhere: everything is served from our own origin.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def init_app(app: Flask) -> None:
    """Install the headers, the proxy settings and the outage handler on the app."""
    hops = int(app.config.get("PROXY_FIX_X_FOR", 0))
    if hops > 0:
        # Only behind a known number of proxies is X-Forwarded-For trustworthy.
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=0
        )
    app.after_request(_set_security_headers)
    # Connection loss, lock and statement timeouts, read-only files: transient or
    # operational, so the client is told to retry. Other database errors are bugs
    # and stay 500s.
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(InterfaceError, _database_unavailable)


def _set_security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if _is_production():
        headers.setdefault(
            "Strict-Transport-Security", "max-age=63072000; includeSubDomains"
        )
    return response


def _is_production() -> bool:
    return current_app.config.get("ENV_NAME") == "production"


def _database_unavailable(error):
    """The database is down, read-only or too slow: say so, keep nothing half-done."""
    current_app.logger.warning("database unavailable: %s", error.orig or error)
    db.session.rollback()
    if request.path.startswith("/api/") or request.accept_mimetypes.best == (
        "application/json"
    ):
        response = jsonify(error="service_unavailable", detail="Please retry shortly.")
    else:
        response = render_template(
            "errors/error.html", code=503, title="Temporarily unavailable", error=None
        )
    return response, 503, {"Retry-After": "30"}
