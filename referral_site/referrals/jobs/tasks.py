"""The jobs themselves: outbox dispatch (on each commit that wrote events, and each
minute), and the periodic commands that cron used to run.

Every job is safe to run twice at once, on one host or several: dispatch leases
its rows, process-rewards skips locked rows, the leaderboards replace a snapshot.
Huey's locks keep two runs of the same periodic job from overlapping all the same.
"""

import threading
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps

from flask import Flask
from huey import Huey, crontab

from referral_site.referrals.jobs.wake import WakeUp
from referral_site.referrals.storage.models import utcnow

#: When a retry or a lease falls due sooner than the next periodic sweep, a
#: dispatch is scheduled for it; later ones wait for a sweep.
SWEEP = timedelta(minutes=1)


@dataclass(frozen=True)
class Registered:
    """An app's tasks, as a host or a test may call them (calling one queues it)."""

    dispatch: object
    wake_up: object
    #: The periodic tasks by name: sweep, process_rewards, refresh_leaderboards,
    #: purge_visits, purge_outbox, purge_payout_changes, email_digest.
    periodic: dict
    #: Sends one account email (emails/accounts.py): (kind, address).
    account_email: object = None


def register(huey: Huey, app: Flask) -> Registered:
    """Declare the app's tasks on its queue (each runs in the app's context)."""

    def in_app(func):
        @wraps(func)
        def run(*args, **kwargs):
            with app.app_context():
                return func(*args, **kwargs)

        return run

    follow_up = _FollowUp()

    @huey.task(name="dispatch")
    @in_app
    def dispatch():
        _dispatch()
        follow_up.schedule(dispatch)

    @huey.periodic_task(crontab(minute="*"), name="sweep")
    @huey.lock_task("referrals.sweep")
    @in_app
    def sweep():
        _dispatch()
        follow_up.schedule(dispatch)

    periodic = {"sweep": sweep, **_periodic(huey, in_app)}
    periodic["email_digest"] = _email_digest(
        huey, in_app, app.config["REFERRALS_EMAIL_DIGEST_HOUR"]
    )

    @huey.task(name="account_email", retries=3, retry_delay=60)
    @in_app
    def account_email(kind: str, address: str):
        from referral_site.referrals.emails.accounts import send_now

        send_now(kind, address)

    window = 0.0 if huey.immediate else app.config["REFERRALS_JOBS_WAKE_UP_SECONDS"]
    wake_up = WakeUp(dispatch, window)
    return Registered(
        dispatch=dispatch,
        wake_up=wake_up,
        periodic=periodic,
        account_email=account_email,
    )


class _FollowUp:
    """Schedules a dispatch for the earliest retry or lease end due before the next
    sweep, once per due time in this process (many dispatches may ask at once)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._scheduled: set = set()

    def schedule(self, dispatch) -> None:
        eta = _next_due()
        if eta is None:
            return
        now = utcnow()
        # Whole seconds, and never sooner than a second from now: what stays due
        # cannot make dispatches chase each other.
        eta = max(eta, now).replace(microsecond=0) + timedelta(seconds=1)
        with self._lock:
            if eta in self._scheduled:
                return
            self._scheduled = {due for due in self._scheduled if due > now}
            self._scheduled.add(eta)
        dispatch.schedule(eta=eta)


def _dispatch() -> None:
    """Hand new events to consumers, then make the webhook deliveries that are due."""
    from referral_site.referrals.outbox.dispatch import dispatch
    from referral_site.referrals.webhooks.delivery import deliver_due

    dispatch()
    deliver_due()


def _next_due():
    """When the earliest retry or lease ends, if sooner than the next sweep."""
    from referral_site.referrals.outbox.dispatch import next_due
    from referral_site.referrals.webhooks.delivery import next_delivery_due

    dues = [due for due in (next_due(), next_delivery_due()) if due is not None]
    if not dues or min(dues) > utcnow() + SWEEP:
        return None
    return min(dues)


def _periodic(huey: Huey, in_app) -> dict:
    """process-rewards each minute, the leaderboards each 15, daily purges."""

    @huey.periodic_task(crontab(minute="*"), name="process_rewards")
    @huey.lock_task("referrals.process_rewards")
    @in_app
    def process_rewards():
        from referral_site.referrals.rewards.engine import process_rewards

        process_rewards()

    @huey.periodic_task(crontab(minute="*/15"), name="refresh_leaderboards")
    @huey.lock_task("referrals.refresh_leaderboards")
    @in_app
    def refresh_leaderboards():
        from referral_site.referrals.reports.rankings import refresh_all

        refresh_all()

    @huey.periodic_task(crontab(minute="30", hour="3"), name="purge_visits")
    @huey.lock_task("referrals.purge_visits")
    @in_app
    def purge_visits():
        from flask import current_app

        from referral_site.referrals.reports.retention import purge_visits

        purge_visits(current_app.config["REFERRALS_VISIT_RETENTION_DAYS"])

    @huey.periodic_task(crontab(minute="45", hour="3"), name="purge_outbox")
    @huey.lock_task("referrals.purge_outbox")
    @in_app
    def purge_outbox():
        from flask import current_app

        from referral_site.referrals.outbox.retention import purge_events

        days = current_app.config["REFERRALS_OUTBOX_RETENTION_DAYS"]
        if days > 0:
            purge_events(days)

    @huey.periodic_task(crontab(minute="50", hour="3"), name="purge_payout_changes")
    @huey.lock_task("referrals.purge_payout_changes")
    @in_app
    def purge_payout_changes():
        from referral_site.referrals.payouts.confirmation import purge_lapsed

        purge_lapsed()

    return {
        "process_rewards": process_rewards,
        "refresh_leaderboards": refresh_leaderboards,
        "purge_visits": purge_visits,
        "purge_outbox": purge_outbox,
        "purge_payout_changes": purge_payout_changes,
    }


def _email_digest(huey: Huey, in_app, hour: int):
    """The admins' email digest, daily at ``hour`` (UTC): once per admin per day,
    however many workers run it (emails/digest.py)."""

    @huey.periodic_task(crontab(minute="0", hour=str(hour)), name="email_digest")
    @huey.lock_task("referrals.email_digest")
    @in_app
    def email_digest():
        from referral_site.referrals.emails.digest import send_admin_digest

        send_admin_digest()

    return email_digest
