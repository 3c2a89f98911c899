"""The site without its referrals plugin: the host page that `?ref=` landings match.

The app is wsgi.py's ``create_app()`` unchanged (configuration, database, CSRF,
limiter, Flask-Login, the site's blueprints, error pages, security headers) except
that ``Referrals`` is replaced by a stand-in. The stand-in only registers a
``referrals`` blueprint with the three pages the site's templates link to, at the
plugin's paths, so the home page renders the same HTML; it adds no request hooks,
middleware, tables, limits or cookies. bench/run.py checks that both apps answer
``/`` with the same HTML before it measures them.
"""

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
        bp = Blueprint("referrals", __name__)
        for rule, endpoint in LINKED_PAGES:
            bp.add_url_rule(rule, endpoint, _not_installed)
        app.register_blueprint(bp)
        app.extensions["referrals-left-out"] = True


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
