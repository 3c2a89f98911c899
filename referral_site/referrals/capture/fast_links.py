"""A fast path for referral links followed by anonymous visitors.

A popular link is followed thousands of times a minute, nearly always by people
who are not signed in. For them this WSGI middleware answers ``GET /r/<code>``
before Flask's request cycle: the same cookies (capture.CookieCodec), the same
visit row queued in the visit buffer, the same redirect, at a fraction of the
cost, since the app's request hooks (CSRF, rate limiter, signed-in device note,
session) have nothing to do for such a click but cost most of its time.

It answers only when nothing else could matter: a GET with neither a session nor
a remember-me cookie (so the visitor is anonymous), a code already in the code
cache (a known code: unknown ones are counted by the rate limiter), not a bot or
prefetch, and visits buffered (an unbuffered visit is a database write, which
belongs in the full request cycle). Anything else, and every other URL, goes
through the app unchanged.

Hooks a host app adds, and a Flask-Login request_loader, are skipped for these
responses, which is why it is off unless ``REFERRALS_FAST_LINKS`` turns it on.
Headers every response needs belong in WSGI middleware wrapped around the app, as
the site's security headers are (security.py).
"""

from flask import Flask, Request, Response
from flask_login.config import COOKIE_NAME as DEFAULT_REMEMBER_COOKIE
from werkzeug.utils import redirect

from referral_site.referrals.attribution.codes import normalize_code
from referral_site.referrals.capture import bots, visits
from referral_site.referrals.capture import cookies as capture
from referral_site.referrals.storage.models import CaptureSource, utcnow


class FastLinks:
    """WSGI middleware answering anonymous clicks on known referral links."""

    def __init__(self, app: Flask, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.path_start = app.config["REFERRALS_URL_PREFIX"] + "/r/"
        self.signed_in_cookies = (
            app.config["SESSION_COOKIE_NAME"],
            app.config.get("REMEMBER_COOKIE_NAME", DEFAULT_REMEMBER_COOKIE),
        )
        #: The landing page's path, per mount point (SCRIPT_NAME) of the app.
        self._landing_paths: dict[str, str] = {}

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET" and environ.get(
            "PATH_INFO", ""
        ).startswith(self.path_start):
            response = self.answer(self.app.request_class(environ))
            if response is not None:
                return response(environ, start_response)
        return self.wsgi_app(environ, start_response)

    def answer(self, request: Request) -> Response | None:
        """The click's response, or None when the full request cycle must answer."""
        state = self.app.extensions["referrals"]
        if state.visit_buffer is None:
            return None
        cookies = request.cookies
        if any(name in cookies for name in self.signed_in_cookies):
            return None
        if state.guessers.seconds_left(request.remote_addr):
            return None  # past the code-guessing limit: the app answers 429
        code = normalize_code(request.path[len(self.path_start) :])
        referrer = state.code_cache.get(code) if code else None
        if referrer is None or bots.is_bot_or_prefetch(request):
            return None
        codec = capture.CookieCodec.of(self.app, check_program=False)
        visitor_id = codec.visitor_id(cookies)
        new_visitor_id = None if visitor_id else capture.new_visitor_id()
        state.visit_buffer.append(
            visits.visit_row(
                referrer,
                visitor_id=visitor_id or new_visitor_id,
                landing_path=request.path,
                source=CaptureSource.LINK,
                ip_hash=visits.hash_ip(request.remote_addr, state.ip_hash_key),
            )
        )
        captured = None
        if codec.should_replace(codec.captured_code(cookies)):
            captured = capture.CapturedCode(
                code=referrer.code,
                source=CaptureSource.LINK,
                captured_at=utcnow(),
                visit_id=None,  # still in the buffer (see capture/visit_buffer.py)
            )
        return codec.set_cookies(
            redirect(self._landing_path(request.script_root)),
            captured=captured,
            new_visitor_id=new_visitor_id,
        )

    def _landing_path(self, script_root: str) -> str:
        path = self._landing_paths.get(script_root)
        if path is None:
            adapter = self.app.url_map.bind("localhost", script_name=script_root or "/")
            path = adapter.build(self.app.config["REFERRALS_LANDING_ENDPOINT"])
            self._landing_paths[script_root] = path
        return path
