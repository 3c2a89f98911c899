"""The blocklist's admin forms, shown at the foot of /admin/fraud."""

from flask import flash, redirect, url_for

from referral_site.referrals.blueprint import admin_required, bp
from referral_site.referrals.forms import BlockEmailForm, UnblockForm
from referral_site.referrals.fraud import blocklist
from referral_site.referrals.users import current_user_id


def _back():
    return redirect(url_for("referrals.fraud_review") + "#blocklist")


@bp.route("/admin/fraud/blocklist", methods=["POST"])
@admin_required
def block_email():
    """Block an address or a domain: signups from it are refused."""
    form = BlockEmailForm()
    if not form.validate_on_submit():
        flash("Enter an address or a domain to block (and why).", "error")
        return _back()
    try:
        value = blocklist.block(
            form.value.data, reason=form.reason.data, admin_id=current_user_id()
        )
    except blocklist.BlocklistError as error:
        flash(str(error), "error")
    else:
        flash(f"{value} is blocked: signups from it are refused.", "success")
    return _back()


@bp.route("/admin/fraud/blocklist/<referrals_id:entry_id>/delete", methods=["POST"])
@admin_required
def unblock_email(entry_id: int):
    """Take an entry off the blocklist."""
    if not UnblockForm().validate_on_submit():
        flash("The form expired: try again.", "error")
        return _back()
    try:
        value = blocklist.unblock(entry_id)
    except blocklist.BlocklistError as error:
        flash(str(error), "error")
    else:
        flash(f"{value} is no longer blocked.", "success")
    return _back()
