"""How an email leaves: rendered from templates a host can override, then handed to
the host's sender (``Referrals(..., send_mail=...)`` or ``@referrals.mail_sender``)
or, by default, to Flask-Mailman over SMTP.
"""

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from flask import Flask, current_app, has_request_context

#: Seconds an SMTP connection may take before the send fails (Flask-Mailman has none).
DEFAULT_MAIL_TIMEOUT = 10


@dataclass(frozen=True)
class OutgoingEmail:
    """One email as the plugin hands it to a sender: both parts and its headers."""

    to: str
    subject: str
    text: str
    html: str
    #: Extra headers, e.g. List-Unsubscribe and List-Unsubscribe-Post.
    headers: dict[str, str] = field(default_factory=dict)
    #: None: the sender's default (MAIL_DEFAULT_SENDER).
    sender: str | None = None


def init_app(app: Flask, send_mail: Callable | None) -> None:
    """Use the host's Flask-Mailman if it has one; otherwise register one.

    A host with its own sender (``send_mail``) gets no Flask-Mailman from the
    plugin: its hook decides how mail leaves.
    """
    if send_mail is not None or "mailman" in app.extensions:
        return
    from flask_mailman import Mail

    app.config.setdefault("MAIL_TIMEOUT", DEFAULT_MAIL_TIMEOUT)
    Mail().init_app(app)


def mail_enabled(app: Flask | None = None) -> bool:
    """Whether emails leave at all: a host sender, or MAIL_SERVER set."""
    app = app or current_app
    state = app.extensions["referrals"]
    return state.send_mail is not None or bool(app.config.get("MAIL_SERVER"))


def send_email(message: OutgoingEmail) -> bool:
    """Send one email through the host's sender or Flask-Mailman; False if mail is
    off. Errors of the sender (SMTP refused, timeout) propagate to the caller."""
    if not mail_enabled():
        return False
    hook = current_app.extensions["referrals"].send_mail
    if hook is not None:
        hook(message)
        return True
    from flask_mailman import EmailMultiAlternatives

    # A connection of our own, closed however the send ends: the one Flask-Mailman
    # opens by itself stays open when the server refuses the message.
    with current_app.extensions["mailman"].get_connection() as connection:
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text,
            from_email=message.sender,
            to=[message.to],
            headers=message.headers,
            connection=connection,
        )
        email.attach_alternative(message.html, "text/html")
        email.send()
    return True


@dataclass(frozen=True)
class Rendered:
    """An email's subject and its two parts."""

    subject: str
    text: str
    html: str


def render_email(template: str, /, **context) -> Rendered:
    """Render referrals/emails/<template>.txt (its ``subject`` block too) and .html.

    Rendered where url_for(..., _external=True) gives the site's public address
    (REFERRALS_EMAIL_BASE_URL, else the current request's), also in a job.
    """
    with links_context():
        env = current_app.jinja_env
        # No context processors: an email is for its recipient, and the request's
        # user (current_user), session or CSRF token have no place in it.
        values = dict(context)
        text_template = env.get_template(f"referrals/emails/{template}.txt")
        subject = "".join(
            text_template.blocks["subject"](text_template.new_context(values))
        )
        text = text_template.render(values)
        html = env.get_template(f"referrals/emails/{template}.html").render(values)
    return Rendered(subject=" ".join(subject.split()), text=text, html=html)


@contextlib.contextmanager
def links_context() -> Iterator[None]:
    """A request context whose host is the site's public address, for links."""
    base_url = current_app.config["REFERRALS_EMAIL_BASE_URL"]
    if has_request_context() and not base_url:
        yield
        return
    with current_app.test_request_context(base_url=base_url or "http://localhost"):
        yield
