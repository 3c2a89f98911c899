"""The console's Payouts section: what is due, batches, their files and decisions."""

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    url_for,
)

from referral_site.referrals.blueprint import admin_required, bp
from referral_site.referrals.payouts import batches, exports, queries
from referral_site.referrals.payouts.due import due_list
from referral_site.referrals.payouts.forms import (
    CreateBatchForm,
    FailLineForm,
    MarkPaidForm,
)
from referral_site.referrals.payouts.models import PayoutBatch
from referral_site.referrals.rewards.currencies import is_currency
from referral_site.referrals.rewards.money import format_money
from referral_site.referrals.storage.db import db
from referral_site.referrals.users import current_user_id, integer_keys, user_id_error


@bp.route("/admin/payouts")
@admin_required
def admin_payouts():
    """What is due per person and currency, and the latest batches."""
    return render_template(
        "referrals/admin_payouts.html",
        due=due_list(),
        batches=queries.batches(),
        form=CreateBatchForm(formdata=None),
    )


def _keys(values: list[str]) -> list[tuple]:
    """Form values "<user id>:<currency>" as (user id, currency) pairs; malformed
    ones are left out."""
    integer = integer_keys(current_app.extensions["referrals"].user_model)
    pairs = []
    for value in values:
        raw, _, currency = value.rpartition(":")
        digits = raw.isascii() and raw.isdigit() and len(raw) < 10
        user_id = int(raw) if integer and digits else raw
        if is_currency(currency) and user_id_error(user_id) is None:
            pairs.append((user_id, currency))
    return pairs


@bp.route("/admin/payouts/batches", methods=["POST"])
@admin_required
def create_payout_batch():
    """Create a batch of everything payable, or of the selected people."""
    form = CreateBatchForm()
    # No people ticked is refused unless "everything" was asked for (a form sent
    # without either button included).
    if not form.validate_on_submit() or not (form.everything.data or form.keys.data):
        flash("Select at least one person, or create a batch of everything.", "error")
        return redirect(url_for("referrals.admin_payouts"))
    keys = None if form.everything.data else _keys(form.keys.data)
    if keys == []:
        flash("None of the selected people is due a payout.", "error")
        return redirect(url_for("referrals.admin_payouts"))
    try:
        created = batches.create_batch(keys, actor_id=current_user_id())
    except batches.PayoutError as error:
        flash(str(error), "error")
        return redirect(url_for("referrals.admin_payouts"))
    totals = ", ".join(format_money(v, c) for c, v in sorted(created.totals.items()))
    flash(f"Batch #{created.batch_id} created: {created.lines} lines, {totals}.")
    return redirect(url_for("referrals.admin_payout_batch", batch_id=created.batch_id))


@bp.route("/admin/payouts/batches/<referrals_id:batch_id>")
@admin_required
def admin_payout_batch(batch_id: int):
    """One batch: its lines and rewards, its files, mark paid, fail a line."""
    batch = db.session.get(PayoutBatch, batch_id) or abort(404)
    return render_template(
        "referrals/admin_payout_batch.html",
        batch=batch,
        lines=queries.batch_lines(batch_id),
        currencies=exports.currencies(batch_id),
        paid_form=MarkPaidForm(formdata=None),
        fail_form=FailLineForm(formdata=None),
    )


@bp.route("/admin/payouts/batches/<referrals_id:batch_id>/paid", methods=["POST"])
@admin_required
def mark_payout_batch_paid(batch_id: int):
    """Mark a batch paid (confirmed): its rewards become paid, all at once."""
    form = MarkPaidForm()
    if not form.validate_on_submit():
        flash(" ".join(e for errors in form.errors.values() for e in errors), "error")
    else:
        try:
            count = batches.mark_paid(
                batch_id, actor_id=current_user_id(), reference=form.reference.data
            )
            flash(f"Batch #{batch_id} marked paid: {count:,} rewards paid.")
        except batches.PayoutError as error:
            flash(str(error), "error")
    return redirect(url_for("referrals.admin_payout_batch", batch_id=batch_id))


@bp.route("/admin/payouts/lines/<referrals_id:line_id>/failed", methods=["POST"])
@admin_required
def fail_payout_line(line_id: int):
    """Mark one line failed (confirmed): its rewards are due again."""
    form = FailLineForm()
    if not form.validate_on_submit():
        flash(" ".join(e for errors in form.errors.values() for e in errors), "error")
        return redirect(url_for("referrals.admin_payouts"))
    try:
        batch_id = batches.fail_line(
            line_id, actor_id=current_user_id(), reason=form.reason.data
        )
    except batches.PayoutError as error:
        flash(str(error), "error")
        return redirect(url_for("referrals.admin_payouts"))
    flash(f"Line #{line_id} failed; its rewards are due again.")
    return redirect(url_for("referrals.admin_payout_batch", batch_id=batch_id))


def _download(text: str, filename: str) -> Response:
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/admin/payouts/batches/<referrals_id:batch_id>/paypal-<currency>.csv")
@admin_required
def payout_batch_paypal_csv(batch_id: int, currency: str):
    """The batch's PayPal Payouts file of one currency (no header row)."""
    db.session.get(PayoutBatch, batch_id) or abort(404)
    if currency not in exports.currencies(batch_id):
        abort(404)
    text = exports.paypal_csv(batch_id, currency)
    return _download(text, f"payout-batch-{batch_id}-paypal-{currency}.csv")


@bp.route("/admin/payouts/batches/<referrals_id:batch_id>/batch.csv")
@admin_required
def payout_batch_csv(batch_id: int):
    """The batch as a generic CSV: recipient, amount, currency, reference, rewards."""
    db.session.get(PayoutBatch, batch_id) or abort(404)
    return _download(exports.generic_csv(batch_id), f"payout-batch-{batch_id}.csv")
