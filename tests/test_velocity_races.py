"""Racing signups count each other in the velocity signals; racing purges report
what each deleted (issue 16, item 6). Against gunicorn, repeated."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from referral_site.referrals import code_of
from referral_site.referrals.fraud.models import ReferralSignalRecord
from referral_site.referrals.storage.models import CaptureSource, Visit
from tests.conftest import PASSWORD, POSTGRES_URL
from tests.host_apps import Reader, bookshop_app, join_bookshop, shelf
from tests.race_tools import RACE_ENV, cli_at_once, engine_for, in_parallel, rows
from tests.server import Browser, fresh_database, gunicorn, log_problems

pytestmark = pytest.mark.slow

REPEATS = 10
SIGNUPS = 10
#: Velocity thresholds: past them each signup is flagged.
MAX_PER_REFERRER = 3
MAX_PER_IP = 3


class ForwardedBrowser(Browser):
    """A browser behind the one trusted proxy, which names its address."""

    def __init__(self, base: str, address: str):
        super().__init__(base)
        self.address = address

    def _open(self, request):
        request.add_header("X-Forwarded-For", self.address)
        return super()._open(request)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("velocity")
    env = RACE_ENV | {
        # Each run signs up from addresses of its own, named by the "proxy".
        "PROXY_FIX_X_FOR": "1",
        "REFERRALS_VELOCITY_MAX_PER_REFERRER": str(MAX_PER_REFERRER),
        "REFERRALS_VELOCITY_MAX_PER_IP": str(MAX_PER_IP),
    }
    with (
        fresh_database(tmp, "velocity") as url,
        gunicorn(url, workers=4, log=tmp / "log", **env) as base,
    ):
        yield base, url, tmp / "log"


def _sign_up(base: str, address: str, email: str, code: str = "") -> tuple:
    browser = ForwardedBrowser(base, address)
    browser.get("/signup")
    form = {"name": email.split("@")[0], "email": email, "password": PASSWORD}
    status, _ = browser.post("/signup", form | {"referral_code": code})
    return status, browser


def _signals(url: str, referrer_email: str) -> dict[str, int]:
    found = rows(
        url,
        "SELECT s.name, count(*) FROM referral_signals s"
        " JOIN referrals r ON r.id = s.referral_id"
        " JOIN users u ON u.id = r.referrer_id"
        " WHERE u.email = :email GROUP BY s.name",
        email=referrer_email,
    )
    return {str(name).lower(): count for name, count in found}


@pytest.mark.parametrize("run", range(REPEATS))
def test_racing_signups_all_count_in_the_velocity_signals(server, run):
    base, url, log = server
    referrer_email = f"velo{run}@example.com"
    status, referrer = _sign_up(base, f"10.{run}.0.1", referrer_email)
    assert status == 302
    # A signup signs nobody in (it answers alike for taken addresses).
    assert referrer.sign_in(referrer_email, PASSWORD) == 302
    page = referrer.get("/referrals")[1]
    code = re.search(r'id="referral-link"[^>]*value="[^"]*/r/(\w+)"', page).group(1)
    jobs = [
        (
            lambda n=n: _sign_up(
                base, f"10.{run}.1.1", f"velo{run}-friend{n}@example.com", code
            )[0]
        )
        for n in range(SIGNUPS)
    ]
    assert in_parallel(jobs) == [302] * SIGNUPS
    signals = _signals(url, referrer_email)
    assert signals.get("referrer_velocity") == SIGNUPS - MAX_PER_REFERRER, signals
    assert signals.get("ip_velocity") == SIGNUPS - MAX_PER_IP, signals
    assert log_problems(log) == []


def _old_visits(url: str, count: int) -> None:
    """Visits of one referrer, all past the retention period."""
    (referrer_id,) = rows(url, "SELECT min(id) FROM users")[0]
    long_ago = datetime.now(UTC) - timedelta(days=400)
    engine = engine_for(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.insert(Visit.__table__),
                [
                    {
                        "code": "OLDCODE1",
                        "referrer_id": referrer_id,
                        "visitor_id": f"{n:032x}",
                        "landing_path": "/r/OLDCODE1",
                        "source": CaptureSource.LINK,
                        "ip_hash": None,
                        "created_at": long_ago,
                    }
                    for n in range(count)
                ],
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("run", range(REPEATS))
def test_racing_purges_report_only_what_each_deleted(server, run):
    base, url, log = server
    if not rows(url, "SELECT count(*) FROM users")[0][0]:
        assert _sign_up(base, "10.250.0.1", "purge@example.com")[0] == 302
    _old_visits(url, 300)
    runs = cli_at_once(url, ["purge-visits"], 3, table="visits")
    assert [r.returncode for r in runs] == [0, 0, 0], [r.stderr for r in runs]
    reported = [int(re.search(r"Purged (\d+) visits", r.stdout)[1]) for r in runs]
    assert sum(reported) == 300, reported
    assert rows(url, "SELECT count(*) FROM visits")[0][0] == 0


@pytest.mark.skipif(not POSTGRES_URL, reason="SQLite serializes writers anyway")
@pytest.mark.parametrize("run", range(REPEATS))
def test_racing_signups_on_a_host_with_its_own_signup_count_alike(
    make_app, tmp_path, run
):
    make_app()  # the site's schema first, then the bookshop's own
    with bookshop_app(
        tmp_path,
        RATELIMIT_ENABLED=False,
        REFERRALS_VELOCITY_MAX_PER_REFERRER=MAX_PER_REFERRER,
        REFERRALS_VELOCITY_MAX_PER_IP=MAX_PER_IP,
    ) as app:
        assert join_bookshop(app.test_client(), "ann").status_code == 302
        with app.app_context():
            code = code_of(shelf.session.scalar(sa.select(Reader.uid)))

        def join(n):
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = "192.0.2.44"
            return join_bookshop(client, f"friend{n}", code).status_code

        statuses = in_parallel([lambda n=n: join(n) for n in range(SIGNUPS)])
        assert statuses == [302] * SIGNUPS
        with app.app_context():
            names = list(shelf.session.scalars(sa.select(ReferralSignalRecord.name)))
    assert names.count("referrer_velocity") == SIGNUPS - MAX_PER_REFERRER
    assert names.count("ip_velocity") == SIGNUPS - MAX_PER_IP
