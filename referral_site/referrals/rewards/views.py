"""The admins' reward review: the queue at /admin/rewards and one reward's history."""

from datetime import datetime

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from referral_site.referrals.blueprint import admin_required, bp
from referral_site.referrals.forms import RewardDecisionForm
from referral_site.referrals.input_checks import largest_integer
from referral_site.referrals.rewards import engine as rewards
from referral_site.referrals.rewards import queries as reward_queries
from referral_site.referrals.storage.db import db
from referral_site.referrals.storage.models import Reward, utcnow
from referral_site.referrals.users import current_user_id


@bp.route("/admin/rewards", methods=["GET", "POST"])
@admin_required
def admin_rewards():
    """The review queue, filtered by status; POST decides on the selected rewards."""
    form = RewardDecisionForm()
    status = request.values.get("status", "all")
    if status not in reward_queries.QUEUE_FILTERS:
        status = "all"
    if form.validate_on_submit():
        _refuse_impossible_ids(form.reward_ids.data)
        _decide(form)
        return redirect(url_for("referrals.admin_rewards", status=status))
    page = reward_queries.queue_page(
        status,
        request.args.get("page", 1, type=int),
        current_app.config["REFERRALS_PAGE_SIZE"],
    )
    return render_template(
        "referrals/admin_rewards.html",
        form=form,
        status=status,
        filters=reward_queries.QUEUE_FILTERS,
        rewards=page,
    ), (400 if form.errors or form.form_errors else 200)


@bp.route("/admin/rewards/<referrals_id:reward_id>", methods=["GET", "POST"])
@admin_required
def admin_reward(reward_id: int):
    """One reward: its source, amounts and full history, with the three decisions."""
    form = RewardDecisionForm()
    if request.method == "POST":
        form.reward_ids.data = [reward_id]
        if form.validate():
            _decide(form)
            return redirect(url_for("referrals.admin_reward", reward_id=reward_id))
    detail = reward_queries.reward_detail(reward_id)
    if detail is None:
        abort(404)
    return render_template("referrals/admin_reward.html", form=form, detail=detail), (
        400 if form.errors or form.form_errors else 200
    )


def _refuse_impossible_ids(reward_ids: list[int]) -> None:
    """A 404 for ids no reward can have (past the column's type), as in the URL."""
    largest = largest_integer(Reward.id.type, db.engine.dialect)
    if any(not 0 < reward_id <= largest for reward_id in reward_ids):
        abort(404)


def _decide(form: RewardDecisionForm) -> None:
    try:
        decision = rewards.decide(
            form.reward_ids.data,
            form.action,
            actor_id=current_user_id(),
            reason=form.reason.data or "",
        )
    except rewards.RewardError as error:
        flash(str(error), "error")
        return
    if decision.changed:
        flash(f"{len(decision.changed)} reward(s) updated.", "success")
    for problem in decision.problems:
        flash(problem, "error")


@bp.app_template_filter("age")
def age(moment: datetime) -> str:
    """How long ago, coarsely: "3 d", "5 h", "12 min"."""
    seconds = max(0, int((utcnow() - moment).total_seconds()))
    if seconds >= 86_400:
        return f"{seconds // 86_400} d"
    if seconds >= 3_600:
        return f"{seconds // 3_600} h"
    return f"{seconds // 60} min"
