"""The plugin's blueprint, its access check for admins and its template helpers.

Each part registers its views on :data:`bp` (capture/views.py, attribution/views.py,
account/views.py, rewards/views.py, fraud/views.py, reports/views.py).
"""

from functools import wraps

from flask import Blueprint, abort, url_for
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
