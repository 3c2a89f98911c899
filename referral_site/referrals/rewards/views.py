"""The admins' reward review: the queue at /admin/rewards and one reward's history."""

from datetime import datetime

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from referral_site.referrals.blueprint import admin_required, bp
from referral_site.referrals.forms import ClawbackForm, RewardDecisionForm
from referral_site.referrals.input_checks import largest_integer
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.rewards import queries as reward_queries
from referral_site.referrals.rewards import queue
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import Reward, utcnow
from referral_site.referrals.users import current_user_id


@bp.route("/admin/rewards", methods=["GET", "POST"])
@admin_required
def admin_rewards():
    """The review queue, filtered and sorted; POST decides on the selected rewards."""
    form = RewardDecisionForm()
    wanted = queue.parse_filter(request.values)
    if form.validate_on_submit():
        ids = queue.matching_ids(wanted) if form.all_matching else form.reward_ids.data
        _refuse_impossible_ids(ids)
        if len(ids) > 1 and form.confirmed.data != "yes":
            return _confirmation(form, wanted, ids)
        _decide(form, ids)
        return redirect(url_for("referrals.admin_rewards", **wanted.args()))
    page = queue.queue_page(
        wanted,
        request.args.get("page", 1, type=int),
        current_app.config["REFERRALS_PAGE_SIZE"],
    )
    return render_template(
        "referrals/admin_rewards.html",
        form=form,
        wanted=wanted,
        statuses=queue.STATUSES,
        rules=queue.rule_names(),
        rewards=page,
        reasons=queue.reasons_in_review(page.items),
    ), (400 if form.errors or form.form_errors else 200)


def _confirmation(form: RewardDecisionForm, wanted, ids: list[int]):
    """Ask before one decision changes several rewards: how many, how much."""
    return render_template(
        "referrals/admin_rewards_confirm.html",
        form=form,
        wanted=wanted,
        ids=ids,
        totals=reward_queries.totals_of(ids),
    )


@bp.route("/admin/rewards/<referrals_id:reward_id>", methods=["GET", "POST"])
@admin_required
def admin_reward(reward_id: int):
    """One reward: its source, amounts and history, with the decisions it allows."""
    form = RewardDecisionForm()
    if request.method == "POST":
        form.reward_ids.data = [reward_id]
        if form.validate():
            _decide(form, [reward_id])
            return redirect(url_for("referrals.admin_reward", reward_id=reward_id))
    detail = reward_queries.reward_detail(reward_id)
    if detail is None:
        abort(404)
    reward = detail.reward
    return render_template(
        "referrals/admin_reward.html",
        form=form,
        clawback_form=ClawbackForm(formdata=None),
        detail=detail,
        actions=rewards.actions_for(reward.status, reward.hold_until),
        reasons=queue.reasons_in_review([reward]).get(reward.id, []),
        clawed_back=rewards.is_clawed_back(reward_id),
    ), (400 if form.errors or form.form_errors else 200)


def _refuse_impossible_ids(reward_ids: list[int]) -> None:
    """A 404 for ids no reward can have (past the column's type), as in the URL."""
    largest = largest_integer(Reward.id.type, db.engine.dialect)
    if any(not 0 < reward_id <= largest for reward_id in reward_ids):
        abort(404)


@bp.route("/admin/rewards/<referrals_id:reward_id>/claw-back", methods=["POST"])
@admin_required
def claw_back(reward_id: int):
    """Take back a paid reward: a negative adjustment the recipient now owes."""
    form = ClawbackForm()
    if not form.validate_on_submit():
        flash("Give a reason to claw the reward back (up to 500 characters).", "error")
    else:
        try:
            adjustment = rewards.claw_back(
                reward_id, actor_id=current_user_id(), reason=form.reason.data
            )
        except rewards.RewardError as error:
            flash(str(error), "error")
        else:
            flash(f"Reward #{reward_id} clawed back (adjustment #{adjustment}).")
    return redirect(url_for("referrals.admin_reward", reward_id=reward_id))


def _decide(form: RewardDecisionForm, ids: list[int]) -> None:
    try:
        decision = rewards.decide(
            ids,
            form.action,
            actor_id=current_user_id(),
            reason=form.reason.data or "",
            confirm_flagged=form.confirm_flagged.data,
        )
    except rewards.RewardError as error:
        flash(str(error), "error")
        return
    if decision.changed:
        flash(decision.summary, "success")
    for problem in decision.problems[:20]:
        flash(problem, "error")
    if len(decision.problems) > 20:
        flash(f"… and {len(decision.problems) - 20:,} more not changed.", "error")


@bp.app_template_filter("age")
def age(moment: datetime) -> str:
    """How long ago, coarsely: "3 d", "5 h", "12 min"."""
    seconds = max(0, int((utcnow() - moment).total_seconds()))
    if seconds >= 86_400:
        return f"{seconds // 86_400:,} d"
    if seconds >= 3_600:
        return f"{seconds // 3_600} h"
    return f"{seconds // 60} min"
