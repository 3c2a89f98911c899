"""Response headers, proxy trust and database-outage answers for every response."""

from flask import Flask, g, request, session
from werkzeug.middleware.proxy_fix import ProxyFix

from referral_site.outages import database_unavailable
from referral_site.referrals import DATABASE_OUTAGES

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
    app.wsgi_app = SecurityHeaders(app.wsgi_app, security_headers(app))
    hops = int(app.config.get("PROXY_FIX_X_FOR", 0))
    if hops > 0:
        # Only behind a known number of proxies is X-Forwarded-For trustworthy.
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=0
        )
    # Transient or operational, so the client is told to retry. Other database
    # errors are bugs and stay 500s.
    for outage in DATABASE_OUTAGES:
        app.register_error_handler(outage, database_unavailable)
    app.after_request(_no_store_when_signed_in)


def _no_store_when_signed_in(response):
    """A signed-in person's pages are theirs: no cache keeps them (``no-store``),
    unless the response chose its own caching. Decided from the session, without
    loading the user, so it holds when the database does not answer."""
    chose_its_own = "Cache-Control" in response.headers
    if chose_its_own or (request.endpoint or "").endswith("static"):
        return response  # the session is not even read: no Vary: Cookie added
    user = g.get("_login_user")
    signed_in = user.is_authenticated if user is not None else "_user_id" in session
    if signed_in:
        response.headers["Cache-Control"] = "no-store"
    return response


def security_headers(app: Flask) -> list[tuple[str, str]]:
    """The headers every response of this app carries (unless it sets its own)."""
    headers = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if app.config.get("ENV_NAME") == "production":
        headers.append(
            ("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        )
    return headers


class SecurityHeaders:
    """WSGI middleware adding the headers a response lacks.

    Middleware rather than an after_request hook, so that responses answered
    outside Flask's request cycle (the referral links' fast path) carry them too.
    """

    def __init__(self, wsgi_app, headers: list[tuple[str, str]]) -> None:
        self.wsgi_app = wsgi_app
        self.headers = [(name.lower(), name, value) for name, value in headers]

    def __call__(self, environ, start_response):
        def start_with_headers(status, response_headers, exc_info=None):
            present = {name.lower() for name, _ in response_headers}
            response_headers.extend(
                (name, value)
                for lowered, name, value in self.headers
                if lowered not in present
            )
            return start_response(status, response_headers, exc_info)

        return self.wsgi_app(environ, start_with_headers)
