"""A daily line chart as inline SVG, drawn on the server: readable without JavaScript.

Only presentation attributes are used (no style=""), so the markup works under a
strict Content-Security-Policy.
"""

from datetime import date

from markupsafe import Markup, escape

from referral_site.referrals.reports.figures import DailySeries

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 56
#: Series drawn, with colours that keep 3:1 contrast against white.
SERIES = (
    ("clicks", "Clicks", "#2563eb"),
    ("signups", "Signups", "#15803d"),
    ("conversions", "Conversions", "#b45309"),
)


def nice_step(value: int, ticks: int = 4) -> int:
    """A round tick step (1, 2, 5, 10, 20, 50...) so ticks steps cover value."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if value <= magnitude * factor * ticks:
                return magnitude * factor
        magnitude *= 10


def _x(index: int, count: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span * index / (count - 1) if count > 1 else span / 2)


def _y(value: int, top: int) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / top)


def _label_days(days: list[date]) -> list[int]:
    """Indexes of the days that get an x-axis label (at most about seven)."""
    if len(days) <= 7:
        return list(range(len(days)))
    step = -(-(len(days) - 1) // 6)
    picks = list(range(0, len(days), step))
    if len(days) - 1 - picks[-1] < step / 2:
        picks[-1] = len(days) - 1
    else:
        picks.append(len(days) - 1)
    return picks


def daily_chart(series: DailySeries, title: str = "Daily activity") -> Markup:
    """The SVG markup of clicks, signups and conversions per day, with axes."""
    count = len(series.days)
    peak = max([1, *series.clicks, *series.signups, *series.conversions])
    step = nice_step(peak)
    top = step * -(-peak // step)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(_describe(series))}</desc>',
    ]
    for value in range(0, top + 1, step):
        y = _y(value, top)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e5e7eb" stroke-width="1"/>'
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="12" fill="#4b5563">{value}</text>'
        )
    labelled = _label_days(series.days)
    for index in labelled:
        x = _x(index, count)
        # The outermost labels hang inwards so they are never clipped.
        anchor = "middle"
        if count > 1 and index == 0:
            anchor = "start"
        elif count > 1 and index == count - 1:
            anchor = "end"
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="{anchor}" '
            f'font-size="12" fill="#4b5563">{series.days[index]:%b %-d}</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" '
        f'y2="{HEIGHT - BOTTOM}" stroke="#6b7280" stroke-width="1"/>'
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 8}" '
        f'text-anchor="middle" font-size="12" fill="#374151">Day (UTC)</text>'
        f'<text x="12" y="{(TOP + HEIGHT - BOTTOM) / 2}" text-anchor="middle" '
        f'font-size="12" fill="#374151" '
        f'transform="rotate(-90 12 {(TOP + HEIGHT - BOTTOM) / 2})">Count</text>'
    )
    for key, label, colour in SERIES:
        values = getattr(series, key)
        points = " ".join(
            f"{_x(i, count):.1f},{_y(v, top):.1f}" for i, v in enumerate(values)
        )
        if key == "clicks" and count > 1:
            base = HEIGHT - BOTTOM
            parts.append(
                f'<polygon points="{_x(0, count):.1f},{base} {points} '
                f'{_x(count - 1, count):.1f},{base}" fill="{colour}" '
                f'fill-opacity="0.08" aria-hidden="true"/>'
            )
        parts.append(
            f'<g data-series="{key}"><title>{label}</title>'
            f'<polyline points="{points}" fill="none" stroke="{colour}" '
            f'stroke-width="2.5" stroke-linejoin="round" stroke-linecap="round"/>'
        )
        if count <= 31:
            parts.extend(
                f'<circle cx="{_x(i, count):.1f}" cy="{_y(v, top):.1f}" r="3" '
                f'fill="{colour}"/>'
                for i, v in enumerate(values)
            )
        parts.append("</g>")
    parts.append("</svg>")
    # Every interpolated text above is escaped or a number we formatted.
    return Markup("".join(parts))  # noqa: S704  # nosec B704


def _describe(series: DailySeries) -> str:
    if not series.days:
        return "No days in range."
    return (
        f"From {series.days[0]:%Y-%m-%d} to {series.days[-1]:%Y-%m-%d}: "
        f"{sum(series.clicks)} clicks, {sum(series.signups)} signups, "
        f"{sum(series.conversions)} conversions."
    )
