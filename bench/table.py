"""The figures of `make bench`: each scenario's runs, the table, the notes under it."""

import statistics
from dataclasses import dataclass, field

from bench import load

#: A warm-up run, then the measured runs.
Measured = tuple[load.Result, list[load.Result]]
#: The link and home page scenarios, and the baselines named in the notes.
LINK = "GET /r/<code>"
HOME, LANDING = "GET / (no ?ref)", "GET /?ref=<code> (new visitor)"
PLAIN = "site without the plugin: GET /?ref=<code>"
QUERY_BASELINE = "Flask + Flask-SQLAlchemy, one query"
BARE, HASH = "bare Flask 302 + cookie", "argon2 hash only"
#: The plugin's default REFERRALS_COOKIE_NAME: a captured code sets it.
CAPTURE_COOKIE = "ref="
MEMORY_TARGET = 1.3


@dataclass
class Row:
    """One scenario's repeated runs, and what it is compared with."""

    name: str
    measured: Measured
    baseline: "Row | None" = None
    target: str = ""
    #: Whether the baseline ran in the same rounds, one run of each in turn.
    together: bool = True

    @property
    def runs(self) -> list[load.Result]:
        return self.measured[1]

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs)

    @property
    def p50(self) -> float:
        return statistics.median(r.p50_ms for r in self.runs)

    @property
    def p99(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    @property
    def requests(self) -> int:
        """Every answered request, the warm-up's included."""
        warm_up, runs = self.measured
        return warm_up.requests + sum(r.requests for r in runs)

    def rps_ratio(self) -> str:
        """Median over median, and the range of the rounds' own ratios."""
        base = self.baseline
        if base is None:
            return "baseline"
        if not self.together:
            return ratio(self.rps, base.rps)
        rounds = [
            r.rps / b.rps for r, b in zip(self.runs, base.runs, strict=True) if b.rps
        ]
        spread = f" ({min(rounds):.2f}–{max(rounds):.2f})" if rounds else ""
        return ratio(self.rps, base.rps) + spread


@dataclass
class Figures:
    """Everything one `make bench` measured."""

    site_html: bytes = b""
    plain_html: bytes = b""
    landing_cookies: list[str] = field(default_factory=list)
    baselines: dict[str, Row] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    #: Largest worker RSS in MiB, by server (and by server at a named moment).
    rss: dict[str, float] = field(default_factory=dict)
    #: Requests answered and visits recorded, per scenario that records visits.
    visits: dict[str, tuple[int, int]] = field(default_factory=dict)

    def add_baseline(self, name: str, measured: Measured) -> None:
        self.baselines[name] = Row(name, measured)

    def add(
        self,
        name: str,
        measured: Measured,
        baseline: str,
        target: str = "",
        recorded: int | None = None,
        together: bool = True,
    ) -> None:
        row = Row(name, measured, self.baselines[baseline], target, together)
        self.rows.append(row)
        if recorded is not None:
            self.visits[name] = (row.requests, recorded)

    def row(self, name: str) -> Row:
        return next(row for row in self.rows if row.name == name)


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}×" if base else "–"


def table(figures: Figures) -> list[str]:
    """Markdown lines: the baselines first, then each row beside its baseline."""
    lines = [
        "| Scenario | req/s median (min–max) | × base (rounds) | p50 ms | × base "
        "| p99 ms | × base | errors | target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in [*figures.baselines.values(), *figures.rows]:
        base = row.baseline
        spread = (
            f"{min(r.rps for r in row.runs):.0f}–{max(r.rps for r in row.runs):.0f}"
        )
        lines.append(
            f"| {row.name} | {row.rps:.0f} ({spread}) | {row.rps_ratio()} "
            f"| {row.p50:.1f} | {ratio(row.p50, base.p50) if base else ''} "
            f"| {row.p99:.1f} | {ratio(row.p99, base.p99) if base else ''} "
            f"| {row.errors} | {row.target} |"
        )
    return lines


def memory_lines(figures: Figures) -> list[str]:
    """Largest worker RSS of each server after its load, and the site's ratios."""
    rss = figures.rss
    site, query, bare = rss["site"], rss["query"], rss["bare"]
    met = "met" if site <= MEMORY_TARGET * query else "not met"
    before = rss["site, before hashing"]
    unhashed = rss["bare, before hashing"]
    return [
        f"- Worker RSS after the load: site {site:.1f} MiB; Flask + Flask-SQLAlchemy "
        f"after its one-query load {query:.1f} MiB ({ratio(site, query)}; target "
        f"≤ {MEMORY_TARGET}×: {met}); bare Flask {bare:.1f} MiB "
        f"({ratio(site, bare)}); the site with the plugin left out of create_app "
        f"(the site's own modules still import part of it), after its home page "
        f"load, {rss['plain']:.1f} MiB",
        f"- Worker RSS before any password hash: site {before:.1f} MiB after the link "
        f"and home page scenarios ({ratio(before, query)} of Flask + "
        f"Flask-SQLAlchemy), bare Flask {unhashed:.1f} MiB after the 302s: hashing "
        f"with argon2 added {bare - unhashed:.1f} MiB to the bare worker",
    ]


def capture_lines(figures: Figures) -> list[str]:
    """Evidence that the landings captured and that the two home pages match."""
    home, landing = figures.row(HOME), figures.row(LANDING)
    captured = any(c.startswith(CAPTURE_COOKIE) for c in figures.landing_cookies)
    same = (
        "identical"
        if figures.site_html == figures.plain_html
        else f"DIFFERENT ({len(figures.site_html)}, {len(figures.plain_html)} bytes)"
    )
    counts = "; ".join(
        f"{label}: {answered} answered, {recorded} visits recorded"
        for label, (answered, recorded) in figures.visits.items()
    )
    return [
        f"- Visits: {counts} (recorded may exceed answered by the requests in "
        "flight at the end of each run)",
        f"- The home page: `/?ref=<code>` at {ratio(landing.rps, home.rps)} the "
        "req/s of the site's own `/` without ?ref (what the capture itself costs); "
        f"that `/` at {ratio(home.rps, home.baseline.rps)} of the page without the "
        "plugin (the plugin's hooks on a page that captures nothing)",
        f"- A new visitor's `/?ref=<code>` sets the `{CAPTURE_COOKIE[:-1]}` cookie: "
        f"{'yes' if captured else 'NO'}; the home page's HTML with and without the "
        f"plugin (no ?ref): {same}",
    ]
