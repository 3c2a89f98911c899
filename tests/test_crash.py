"""A process killed in the middle of a signup or a conversion leaves no half-written
rows, and the retry succeeds once."""

import signal
import subprocess
import sys

import pytest
import sqlalchemy as sa

from referral_site.models import User
from referral_site.referrals.attribution import services
from referral_site.referrals.rewards import conversions
from referral_site.referrals.storage.models import (
    Conversion,
    Referral,
    Reward,
    RewardEvent,
)
from tests import proof
from tests.conftest import PASSWORD, scalar
from tests.server import ROOT, server_environment

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("run", range(5))
def test_killed_signup_leaves_nothing_and_the_retry_succeeds_once(app, make_user, run):
    _, code = make_user()
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    email = f"crash{run}@example.com"
    child = subprocess.run(
        [sys.executable, "-m", "tests.crash_signup", email, code],
        cwd=ROOT,
        env=server_environment(url),
        capture_output=True,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    proof.record("faults_injected", 1)
    left_users = scalar(
        app, sa.select(sa.func.count(User.id)).where(User.email == email)
    )
    left_referrals = scalar(app, sa.select(sa.func.count(Referral.id)))
    proof.record("half_written_rows", left_users + left_referrals)
    assert (left_users, left_referrals) == (0, 0)
    with app.app_context():
        capture = services.Capture(code=code, source=services.CaptureSource.TYPED)
        services.sign_up(name="Crash", email=email, password=PASSWORD, capture=capture)
        with pytest.raises(services.EmailTaken):
            services.sign_up(
                name="Crash", email=email, password=PASSWORD, capture=capture
            )
    assert scalar(app, sa.select(sa.func.count(Referral.id))) == 1


KILL_POINTS = ["conversion", "reward", "commit"]


@pytest.mark.parametrize("point", KILL_POINTS)
@pytest.mark.parametrize("run", range(3))
def test_killed_conversion_leaves_nothing_and_the_retry_counts_once(
    app, make_user, point, run
):
    _, code = make_user()
    friend, _ = make_user("bob@example.com", "Bob", code=code)
    external_id = f"crash-{point}-{run}"
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.crash_conversion",
            point,
            str(friend),
            external_id,
        ],
        cwd=ROOT,
        env=server_environment(app.config["SQLALCHEMY_DATABASE_URI"]),
        capture_output=True,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    proof.record("conversion_faults_injected", 1)
    left = _conversion_rows(app)
    proof.record("conversion_half_written_rows", sum(left.values()))
    assert left == {"conversions": 0, "rewards": 0, "events": 0, "converted": 0}
    with app.app_context():
        first = conversions.record_conversion(
            friend, kind="purchase", amount=4999, external_id=external_id
        )
        again = conversions.record_conversion(
            friend, kind="purchase", amount=4999, external_id=external_id
        )
    assert (first.created, again.created, len(first.rewards)) == (True, False, 2)
    assert _conversion_rows(app) == {
        "conversions": 1,
        "rewards": 2,
        "events": 2,
        "converted": 1,
    }


def _conversion_rows(app) -> dict[str, int]:
    def count(column, *where):
        return scalar(app, sa.select(sa.func.count(column)).where(*where))

    return {
        "conversions": count(Conversion.id),
        "rewards": count(Reward.id),
        "events": count(RewardEvent.id),
        "converted": count(Referral.id, Referral.converted_at.is_not(None)),
    }
