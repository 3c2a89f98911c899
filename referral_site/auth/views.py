"""Sign in and sign out."""

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from referral_site.auth import services
from referral_site.auth.forms import LoginForm
from referral_site.auth.redirects import safe_next_path
from referral_site.extensions import limiter

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["REFERRALS_RATELIMIT_LOGIN"], methods=["POST"]
)
def login():
    """Check credentials, start a fresh session and go back where the user was."""
    if current_user.is_authenticated:
        return redirect(url_for("referrals.mine"))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None and not user.is_active:
            # Told only to whoever knows the password: it is their account.
            flash("This account is disabled. Contact the site's team.", "error")
        elif user is not None:
            session.clear()  # a fresh session: nothing carried over from before login
            login_user(user, remember=form.remember.data)
            target = safe_next_path(request.args.get("next"), url_for("referrals.mine"))
            return redirect(target)
        else:
            flash("Invalid email or password.", "error")
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """End this session and every other one of the user (their token rotates)."""
    services.end_all_sessions(current_user.id)
    logout_user()
    flash("You have been signed out.", "info")
    return redirect(url_for("main.index"))
