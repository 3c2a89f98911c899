"""The site's own pages."""

from flask import Blueprint, render_template

bp = Blueprint("main", __name__)


@bp.route("/")
def index():
    """Home page: what the program is and where to go next."""
    return render_template("index.html")
