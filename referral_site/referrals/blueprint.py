"""The plugin's blueprint, its access check for admins and its template helpers.

Each part registers its views on :data:`bp` (capture/views.py, attribution/views.py,
account/views.py, rewards/views.py, fraud/views.py, reports/views.py).
"""

from datetime import timedelta
from functools import wraps

from flask import Blueprint, abort, g, request, session, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from referral_site.referrals.account import qr
from referral_site.referrals.rewards.money import format_money
from referral_site.referrals.users import is_admin

bp = Blueprint(
    "referrals",
    __name__,
    template_folder="templates",
    static_folder="static",
    # Distinct from the host's /static, so it is reachable without a url_prefix.
    static_url_path="/_referrals/static",
)


#: The plugin's blueprints whose pages are private once signed in.
PRIVATE_BLUEPRINTS = ("referrals", "referrals_api")


def admin_required(view):
    """Anonymous users go to the login page; signed-in non-admins get 403."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not is_admin(current_user):
            abort(403)
        return view(*args, **kwargs)

    # The console's navigation and a host's menu know its pages by this mark.
    wrapped.referrals_admin = True
    return wrapped


def signed_in() -> bool:
    """Whether the request is a signed-in user's, without loading the user (no
    query: an answer about a database outage must not need the database)."""
    user = g.get("_login_user")
    if user is not None:
        return bool(user.is_authenticated)
    return "_user_id" in session


@bp.after_app_request
def keep_private_pages_out_of_caches(response):
    """Pages of the plugin shown to a signed-in user carry ``no-store``: a shared
    cache or the back button after sign-out must not show them to someone else.
    A response that chose its own caching (the QR code) keeps it."""
    if (
        request.blueprint in PRIVATE_BLUEPRINTS
        and not (request.endpoint or "").endswith("static")
        and "Cache-Control" not in response.headers
        and signed_in()
    ):
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_template_filter("mask_email")
def mask_email(email: str) -> str:
    """Show enough of an address to recognise it, not enough to use it."""
    local, _, domain = email.partition("@")
    name, dot, tld = domain.rpartition(".")
    return f"{local[:1]}***@{name[:1]}***{dot}{tld}" if name else f"{local[:1]}***"


@bp.app_template_filter("money")
def money(amount_minor: int, currency: str) -> str:
    """Integer minor units as money: {{ 1000|money("USD") }} -> "$10.00"."""
    return format_money(amount_minor, currency)


@bp.app_template_filter("conversion_source")
def conversion_source(external_id: str) -> str:
    """A conversion's external id, naming the Stripe object when it came from one."""
    from referral_site.referrals.billing.queries import stripe_source

    return stripe_source(external_id) or external_id


@bp.app_template_filter("duration")
def duration(wait: timedelta) -> str:
    """A wait in its largest whole unit: "5 s", "30 min", "10 h", "2 d"."""
    seconds = int(wait.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:,} {unit}"
    return f"{seconds:,} s"


@bp.app_template_filter("number")
def number(count: int | None) -> str:
    """A count with thousands separators: {{ 12345|number }} -> "12,345"."""
    return "–" if count is None else f"{int(count):,}"


@bp.app_template_filter("percent")
def percent(rate: float | None) -> str:
    """A ratio as a percentage with one decimal, or a dash when undefined."""
    return "–" if rate is None else f"{rate * 100:.1f}%"


@bp.app_template_global("referrals_assets")
def referrals_assets() -> Markup:
    """The plugin's stylesheet and script tags, for the head of a host's layout."""
    css = url_for("referrals.static", filename="referrals.css")
    js = url_for("referrals.static", filename="referrals.js")
    # A constant template; Markup.format escapes the URLs it fills in.
    tags = Markup('<link rel="stylesheet" href="{}">\n<script src="{}" defer></script>')
    return tags.format(css, js)


@bp.app_template_global("qr_code_svg")
def qr_code_svg(text: str, title: str = "QR code"):
    """Inline SVG QR code of text, for templates."""
    return qr.qr_inline(text, title=title)


@bp.app_template_global("referrals_mail_enabled")
def referrals_mail_enabled() -> bool:
    """Whether the plugin's emails leave (MAIL_SERVER set, or a host sender)."""
    from referral_site.referrals.emails.sending import mail_enabled

    return mail_enabled()
