"""The site without its referrals plugin: the host page that `?ref=` landings match.

The app is wsgi.py's ``create_app()`` unchanged (configuration, database, CSRF,
limiter, Flask-Login, the site's blueprints, error pages, security headers) except
that ``Referrals`` is replaced by a stand-in. The stand-in only registers a
``referrals`` blueprint with the three pages the site's templates link to, at the
plugin's paths, and the invitation the home page includes (for a visitor who
followed no link it shows nothing: here nobody ever invited anyone), so the home
page renders the same HTML; it adds no request hooks, middleware, tables, limits
or cookies. bench/run.py compares both apps' HTML of ``/``, and the table counts
any answer that is not a 2xx or 3xx as an error.
"""

from pathlib import Path

from flask import Blueprint, Flask

import referral_site.referrals as plugin
from referral_site import create_app

#: The plugin pages the site's base and home templates link to (rule, endpoint).
LINKED_PAGES = (
    ("/signup", "signup"),
    ("/referrals", "mine"),
    ("/admin", "admin_report"),
)


def _not_installed():
    """Stands in for a plugin page: never requested by the benchmark."""
    return "The referrals plugin is not installed here.", 404


class PluginLeftOut:
    """Takes the place of ``Referrals(app, db=..., user_model=..., limiter=...)``."""

    def __init__(self, app: Flask, **options) -> None:
        # The plugin's templates, for the invitation partial the home page includes.
        templates = Path(plugin.__file__).parent / "templates"
        bp = Blueprint("referrals", __name__, template_folder=templates)
        for rule, endpoint in LINKED_PAGES:
            bp.add_url_rule(rule, endpoint, _not_installed)
        app.register_blueprint(bp)
        app.context_processor(lambda: {"referral_invitation": _nobody})
        app.extensions["referrals-left-out"] = True


def _nobody():
    """The invitation of a visitor of a site without the plugin: none."""
    return None


def create_plain_app() -> Flask:
    """The site's factory with the plugin left out (checked, not assumed)."""
    installed = plugin.Referrals
    plugin.Referrals = PluginLeftOut
    try:
        app = create_app()
    finally:
        plugin.Referrals = installed
    if "referrals" in app.extensions or "referrals-left-out" not in app.extensions:
        raise RuntimeError("create_app() no longer looks Referrals up at call time")
    return app


app = create_plain_app()
