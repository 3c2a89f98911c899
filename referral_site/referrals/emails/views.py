"""The user's email preferences on /referrals and the one-click unsubscribe link."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from referral_site.referrals.blueprint import bp
from referral_site.referrals.emails import preferences, tokens
from referral_site.referrals.emails.forms import EmailPreferencesForm
from referral_site.referrals.emails.models import EmailCategory
from referral_site.referrals.emails.sending import mail_enabled
from referral_site.referrals.users import current_user_id, email_is_verified, is_admin


def shown_categories(user) -> tuple[EmailCategory, ...]:
    """The categories a user can choose from: the digest is for admins only."""
    if is_admin(user):
        return (*preferences.REFERRER_CATEGORIES, EmailCategory.ADMIN_DIGEST)
    return preferences.REFERRER_CATEGORIES


def email_context() -> dict:
    """What the _my_emails.html partial of /referrals needs."""
    form = EmailPreferencesForm(formdata=None)
    form.tick(set(EmailCategory) - preferences.turned_off(current_user_id()))
    return {
        "email_form": form,
        "email_categories": shown_categories(current_user),
        "mail_enabled": mail_enabled(),
        "email_verified": email_is_verified(current_user),
    }


@bp.route("/referrals/emails", methods=["POST"])
@login_required
def email_preferences():
    """Save which categories of email the signed-in user receives."""
    form = EmailPreferencesForm()
    if not form.validate_on_submit():
        abort(400)
    shown = shown_categories(current_user)
    preferences.set_preferences(current_user_id(), form.enabled(shown), shown)
    flash("Your email choices are saved.", "success")
    return redirect(url_for("referrals.mine") + "#emails")


@bp.route("/referrals/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    """A signed link from an email: GET asks, POST turns the category off.

    The POST needs no session nor CSRF token (RFC 8058: mail clients post
    "List-Unsubscribe=One-Click" to it); the signature is the proof. A GET changes
    nothing, since link checkers open every link of an email.
    """
    try:
        user_id, category = tokens.read_unsubscribe_token(token)
    except tokens.InvalidLink as error:
        # Forbidden: the signature is this route's authentication.
        return render_template(
            "referrals/unsubscribe.html", error=str(error), done=False
        ), 403
    done = request.method == "POST"
    if done:
        preferences.unsubscribe(user_id, category)
    return render_template(
        "referrals/unsubscribe.html",
        error=None,
        done=done,
        label=preferences.LABELS[category],
        token=token,
    )
