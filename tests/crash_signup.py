"""Run one signup and kill this process (SIGKILL) after its rows are flushed.

Usage: python -m tests.crash_signup EMAIL CODE  (DATABASE_URL from the environment).
The kill lands inside the open transaction, as a worker dying mid-request would.
"""

import os
import signal
import sys

from sqlalchemy import event
from sqlalchemy.orm import Session

from referral_site import create_app
from referral_site.referrals.attribution import services
from referral_site.referrals.storage.models import Referral


def _die_once_the_referral_is_flushed(session, _context):
    # after_flush still lists what the flush just wrote as "new".
    if any(isinstance(obj, Referral) for obj in session.new):
        os.kill(os.getpid(), signal.SIGKILL)


def main(email: str, code: str) -> None:
    app = create_app()
    event.listen(Session, "after_flush", _die_once_the_referral_is_flushed)
    with app.app_context():
        capture = services.Capture(code=code, source=services.CaptureSource.TYPED)
        services.sign_up(name="Crash", email=email, password="x" * 12, capture=capture)
    sys.exit("the signup committed: the kill never happened")


if __name__ == "__main__":
    main(*sys.argv[1:])
