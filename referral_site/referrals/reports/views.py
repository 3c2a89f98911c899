"""The admin report: program funnel, rewards, leaderboard, daily chart, CSV exports.

Routes live on the plugin's blueprint (``bp`` from views.py); the figures come from
reports/figures.py, which computes them with SQL aggregates.
"""

import csv
import io
from collections.abc import Iterable, Iterator

from flask import (
    Response,
    abort,
    current_app,
    render_template,
    request,
    stream_with_context,
)

from referral_site.referrals.blueprint import admin_required, bp
from referral_site.referrals.reports import charts, leaderboard, revenue
from referral_site.referrals.reports import exports as report_exports
from referral_site.referrals.reports import figures as reports
from referral_site.referrals.webhooks import endpoints as webhook_endpoints

#: Leading characters that make a spreadsheet treat a cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def period_asked() -> reports.DateRange:
    """The report period of the request (?range=), the default one if unknown."""
    return reports.date_range(request.args.get("range"))


def page_asked() -> int:
    """The page number of the request (?page=), at least 1."""
    return max(1, request.args.get("page", 1, type=int))


@bp.route("/admin")
@admin_required
def admin_report():
    """Program funnel, rewards, daily chart and the leaderboard for a date range."""
    period = period_asked()
    series = reports.daily_series(period)
    reward_totals = reports.rewards_by_status(period)
    return render_template(
        "referrals/admin.html",
        period=period,
        presets=reports.PRESETS,
        funnel=reports.funnel(period),
        rewards=reward_totals,
        revenue=revenue.program_revenue(period, reward_totals),
        series=series,
        chart=charts.daily_chart(series),
        leaders=leaderboard.leaderboard_page(
            period, page_asked(), current_app.config["REFERRALS_PAGE_SIZE"]
        ),
        turned_off=webhook_endpoints.turned_off(),
    )


@bp.route("/admin/export/<kind>.csv")
@admin_required
def admin_export(kind: str):
    """Stream a CSV of referrals, rewards or the leaderboard for a date range."""
    rows = report_exports.EXPORTS.get(kind)
    if rows is None:
        abort(404)
    period = period_asked()
    # The rewards can be narrowed to one status (?status=paid); others ignore it.
    status = request.args.get("status") if kind == "rewards" else None
    status = status if status in report_exports.REWARD_STATUSES else None
    filters = {"status": status} if status else {}
    filename = f"{kind}-{period.key}{'-' + status if status else ''}.csv"
    return Response(
        stream_with_context(_csv_lines(rows(period, **filters))),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            # Emails inside: never kept by a cache on the way.
            "Cache-Control": "no-store",
        },
    )


def _safe_cell(value: object) -> object:
    """Defuse user-typed text that a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value)  # a negative amount is data, not a formula
        except ValueError:
            return "'" + value
    return value


def _csv_lines(rows: Iterable[list]) -> Iterator[str]:
    """Encode rows one by one, so the response never holds the whole export."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([_safe_cell(value) for value in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
