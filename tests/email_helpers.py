"""Fixtures and helpers of the email tests: a real SMTP server and the site on it."""

import re
from urllib.parse import urlsplit

from referral_site.referrals.outbox import dispatch
from tests.smtp import SMTPServer, parts

SENDER = "Referrals <referrals@example.com>"


def mail_settings(smtp: SMTPServer) -> dict:
    """Settings that send through the test's SMTP server (Flask-Mailman would
    keep mail in memory under TESTING without MAIL_BACKEND)."""
    return {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp.port,
        "MAIL_BACKEND": "smtp",
        "MAIL_DEFAULT_SENDER": SENDER,
        "REFERRALS_EMAIL_BASE_URL": "http://referrals.test",
        # Jobs run where they are queued: account emails and, after each commit,
        # the outbox's dispatch (run_jobs then finds what a test wrote elsewhere).
        "REFERRALS_JOBS_URL": "immediate",
    }


def run_jobs(app) -> dispatch.Dispatched:
    """What the background job does: hand new outbox events to the consumers."""
    with app.app_context():
        return dispatch.dispatch()


def links(message) -> list[str]:
    """The http links in a message's plain-text part."""
    text, _ = parts(message)
    return re.findall(r"https?://\S+", text)


def path_of(url: str) -> str:
    """A link's path and query, to follow it with the test client."""
    parsed = urlsplit(url)
    assert parsed.netloc == "referrals.test", url
    return parsed.path + (f"?{parsed.query}" if parsed.query else "")


def unsubscribe_url(message) -> str:
    """The URL in a message's List-Unsubscribe header."""
    header = str(message["List-Unsubscribe"]).strip()  # folded: a leading space
    assert header.startswith("<") and header.endswith(">"), header
    return header[1:-1]


def csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
