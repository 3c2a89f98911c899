"""A process killed in the middle of a signup leaves no half-written rows."""

import signal
import subprocess
import sys

import pytest
import sqlalchemy as sa

from referral_site.models import User
from referral_site.referrals import services
from referral_site.referrals.models import Referral
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
