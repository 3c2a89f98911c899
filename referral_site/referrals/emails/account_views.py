"""The plugin's account pages that work by email (REFERRALS_AUTH_VIEWS): after
signup, email verification, forgotten password and its reset."""

from flask import (
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user

from referral_site.referrals.emails import accounts as account_mail
from referral_site.referrals.emails import links
from referral_site.referrals.emails.models import TokenPurpose
from referral_site.referrals.emails.tokens import InvalidLink
from referral_site.referrals.forms import (
    ConfirmForm,
    ForgotPasswordForm,
    NewPasswordForm,
)
from referral_site.referrals.limits import rate_limited
from referral_site.referrals.users import email_is_verified, user_fields


def signup_sent():
    """What every signup answers, new address or not: check your email."""
    return render_template("referrals/signup_sent.html")


def verify_email(token: str):
    """GET shows a button (mail scanners open links); POST confirms and signs in."""
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            user = links.verify_email(token)
        except InvalidLink as error:
            return _invalid(error)
        session.clear()  # a fresh session for whoever proved they own the address
        login_user(user)
        flash("Your email address is confirmed. Welcome!", "success")
        return redirect(url_for("referrals.mine"))
    try:
        links.check(TokenPurpose.VERIFY_EMAIL, token)
    except InvalidLink as error:
        return _invalid(error)
    return render_template("referrals/verify_email.html", form=form)


@rate_limited("EMAIL_LINKS")
def forgot_password():
    """Send a reset link if the address has an account; answer alike either way."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        account_mail.queue_account_email(account_mail.RESET, form.email.data)
        return render_template("referrals/forgot_password.html", form=None)
    return render_template("referrals/forgot_password.html", form=form), (
        400 if form.errors else 200
    )


def reset_password(token: str):
    """Choose a new password from a reset link; every session of the account ends."""
    try:
        user = links.user_of(TokenPurpose.PASSWORD_RESET, token)
    except InvalidLink as error:
        return _invalid(error)
    form = NewPasswordForm()
    form.email = user_fields().email(user) or ""
    if form.validate_on_submit():
        try:
            links.reset_password(token, form.password.data)
        except InvalidLink as error:
            return _invalid(error)
        flash("Your password is changed. Sign in with it.", "success")
        return redirect(_login_url())
    return render_template("referrals/reset_password.html", form=form), (
        400 if form.errors else 200
    )


@login_required
@rate_limited("EMAIL_LINKS")
def resend_verification():
    """Send the signed-in user a new verification link."""
    if ConfirmForm().validate_on_submit() and not email_is_verified(current_user):
        # Sent now, not queued: the user is signed in, so there is nothing to hide,
        # and they are told whether it left.
        user = current_user._get_current_object()
        if account_mail.send_now(
            account_mail.VERIFY, user_fields().email(user), quiet=True
        ):
            flash("We sent you a new link: check your email.", "success")
        else:
            flash("We could not send the email. Try again later.", "error")
    return redirect(url_for("referrals.mine") + "#emails")


def _invalid(error: InvalidLink):
    return render_template("referrals/link_invalid.html", error=str(error)), 400


def _login_url() -> str:
    manager = getattr(current_app, "login_manager", None)
    view = getattr(manager, "login_view", None)
    return url_for(view) if view else url_for("referrals.mine")


def register(app: Flask) -> None:
    """Add the pages beside the plugin's signup (REFERRALS_AUTH_VIEWS on)."""
    prefix = app.config["REFERRALS_URL_PREFIX"]
    pages = [
        ("/signup/sent", "signup_sent", signup_sent, ["GET"]),
        ("/verify/<token>", "verify_email", verify_email, ["GET", "POST"]),
        ("/password/forgot", "forgot_password", forgot_password, ["GET", "POST"]),
        ("/password/reset/<token>", "reset_password", reset_password, ["GET", "POST"]),
        (
            "/referrals/verify",
            "resend_verification",
            resend_verification,
            ["POST"],
        ),
    ]
    for path, name, view, methods in pages:
        app.add_url_rule(prefix + path, f"referrals.{name}", view, methods=methods)
