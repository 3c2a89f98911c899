"""Record one conversion and kill this process (SIGKILL) before it commits.

Usage: python -m tests.crash_conversion POINT USER_ID EXTERNAL_ID (DATABASE_URL from
the environment). POINT is where the kill lands inside the open transaction:
``conversion`` once the conversion row is flushed, ``reward`` once the first reward
is, ``commit`` just before COMMIT is sent — as a worker dying mid-request would.
"""

import os
import signal
import sys
from datetime import UTC, datetime

from sqlalchemy import event
from sqlalchemy.orm import Session

from referral_site import create_app
from referral_site.referrals.rewards.conversions import record_conversion
from referral_site.referrals.storage.models import Conversion, Reward


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _die_once_flushed(kind: type):
    def listener(session, _context):
        # after_flush still lists what the flush just wrote as "new".
        if any(isinstance(obj, kind) for obj in session.new):
            _die()

    return listener


def main(point: str, user_id: str, external_id: str) -> None:
    app = create_app()
    if point == "commit":
        event.listen(Session, "before_commit", lambda _session: _die())
    else:
        kinds = {"conversion": Conversion, "reward": Reward}
        event.listen(Session, "after_flush", _die_once_flushed(kinds[point]))
    with app.app_context():
        record_conversion(
            int(user_id),
            kind="purchase",
            amount=4999,
            external_id=external_id,
            occurred_at=datetime.now(UTC),
        )
    sys.exit("the conversion committed: the kill never happened")


if __name__ == "__main__":
    main(*sys.argv[1:])
