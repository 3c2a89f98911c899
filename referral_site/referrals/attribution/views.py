"""The plugin's own signup and account deletion (REFERRALS_AUTH_VIEWS).

They need a user model with ``set_password``/``check_password`` and writable
name and email; a host with its own registration turns them off and calls
``attribute_signup``/``forget_user`` from its own views instead.

A signup answers the same whether the address is new or has an account (OWASP):
the new account gets a verification link, the existing one's owner a note.
"""

from flask import Flask, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, logout_user

from referral_site.referrals.account import service as account
from referral_site.referrals.attribution import services
from referral_site.referrals.attribution.host_signup import signup_capture
from referral_site.referrals.capture import cookies as capture
from referral_site.referrals.emails import accounts as account_mail
from referral_site.referrals.forms import DeleteAccountForm, SignupForm
from referral_site.referrals.limits import rate_limited
from referral_site.referrals.users import current_user_id, user_fields


@rate_limited("SIGNUP")
def signup():
    """Create an account, attributed to the referrer whose code was captured."""
    if current_user.is_authenticated:
        if request.method == "POST":
            flash(
                "You are already signed in: you cannot create another account or "
                "use a referral code for yourself.",
                "error",
            )
        return redirect(url_for("referrals.mine"))
    captured = capture.read_captured_code()
    form = SignupForm()
    if request.method == "GET" and captured is not None:
        form.referral_code.data = captured.code
    if form.validate_on_submit():
        try:
            user = services.sign_up(
                name=form.name.data,
                email=form.email.data,
                password=form.password.data,
                capture=signup_capture(form.referral_code.data or "", captured),
                ip=request.remote_addr,
                visitor_id=capture.visitor_id(),
            )
        except services.EmailTaken:
            # Answered like a new account: only the address's owner is told.
            account_mail.queue_account_email(account_mail.TAKEN, form.email.data)
        except services.EmailBlocked as error:
            form.email.errors.append(str(error))
            return render_template("referrals/signup.html", form=form), 400
        except (services.UnknownCode, services.ReferralLoop) as error:
            form.referral_code.errors.append(str(error))
            return render_template("referrals/signup.html", form=form), 400
        else:
            account_mail.queue_account_email(
                account_mail.VERIFY, user_fields().email(user)
            )
        capture.forget()
        return redirect(url_for("referrals.signup_sent"))
    return render_template("referrals/signup.html", form=form), (
        400 if form.errors else 200
    )


@login_required
@rate_limited("LOGIN")  # a password check: a stolen session may not guess on
def delete_account():
    """Delete (anonymise) the signed-in user's account after checking the password."""
    form = DeleteAccountForm()
    if not form.validate_on_submit():
        flash("Enter your password to delete your account.", "error")
        return redirect(url_for("referrals.mine"))
    try:
        account.delete_account(current_user_id(), password=form.password.data)
    except account.AccountError as error:
        flash(str(error), "error")
        return redirect(url_for("referrals.mine"))
    logout_user()
    flash("Your account has been deleted.", "info")
    return redirect(url_for(current_app.config["REFERRALS_LANDING_ENDPOINT"]))


def register(app: Flask) -> None:
    """Add the pages to an app whose REFERRALS_AUTH_VIEWS is on.

    Added to the app, not to the shared blueprint, so that another app in the
    same process can leave them out; their endpoints still read ``referrals.*``
    and the blueprint's hooks and templates apply to them.
    """
    prefix = app.config["REFERRALS_URL_PREFIX"]
    app.add_url_rule(
        f"{prefix}/signup", "referrals.signup", signup, methods=["GET", "POST"]
    )
    app.add_url_rule(
        f"{prefix}/referrals/delete",
        "referrals.delete_account",
        delete_account,
        methods=["POST"],
    )
