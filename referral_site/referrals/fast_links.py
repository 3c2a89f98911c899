"""A fast path for referral links followed by anonymous visitors.

A popular link is followed thousands of times a minute, nearly always by people
who are not signed in. For them this WSGI middleware answers ``GET /r/<code>``
inside a request context but without Flask's full request cycle: the app's
before- and after-request hooks (CSRF, the rate limiter, the signed-in device
note, the session's save) do nothing for such a request, yet cost most of its
time. The click itself is handled by the same code as the full path.

Only visitors without a session or remember-me cookie take it, so they are known
to be anonymous without loading a user, and their (empty) session is not opened.
Everything else goes through the app unchanged: other URLs, signed-in visitors,
and unknown codes (which the rate limiter counts). Hooks a host app adds are
skipped on the fast path too, as is a Flask-Login request_loader, which is why it
is off unless ``REFERRALS_FAST_LINKS`` turns it on; headers every response needs
belong in WSGI middleware wrapped around the app (as the site does in security.py).
"""

from flask import Flask
from flask.ctx import RequestContext
from flask_login.config import COOKIE_NAME as DEFAULT_REMEMBER_COOKIE
from sqlalchemy.exc import SQLAlchemyError


class FastLinks:
    """WSGI middleware answering anonymous clicks on referral links."""

    def __init__(self, app: Flask, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.path_start = app.config["REFERRALS_URL_PREFIX"] + "/r/"
        self.signed_in_cookies = (
            app.config["SESSION_COOKIE_NAME"],
            app.config.get("REMEMBER_COOKIE_NAME", DEFAULT_REMEMBER_COOKIE),
        )

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET" and environ.get(
            "PATH_INFO", ""
        ).startswith(self.path_start):
            response = self._answer(environ)
            if response is not None:
                return response(environ, start_response)
        return self.wsgi_app(environ, start_response)

    def _answer(self, environ):
        from referral_site.referrals.views import follow_anonymously

        request = self.app.request_class(environ)
        if any(name in request.cookies for name in self.signed_in_cookies):
            return None
        session = self.app.session_interface.make_null_session(self.app)
        with RequestContext(self.app, environ, request=request, session=session):
            if request.endpoint != "referrals.follow":
                return None
            try:
                return follow_anonymously(request.view_args["code"])
            except SQLAlchemyError:
                # Nothing was written (a visit's write is one transaction): the
                # full path answers, with the site's "temporarily unavailable".
                return None
