"""Running an app's jobs: the worker process, or a consumer in threads (tests)."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from huey.consumer import Consumer

from referral_site.referrals.jobs.queue import queue_of
from referral_site.referrals.outbox.events import WAKE_UP

#: How often (at most) an idle worker looks for new jobs, in seconds.
MAX_POLL_DELAY = 1.0


def consumer_for(app: Flask, *, workers: int, periodic: bool) -> Consumer:
    """A Huey consumer of the app's queue, with thread workers."""
    return queue_of(app).create_consumer(
        workers=workers,
        worker_type="thread",
        periodic=periodic,
        initial_delay=0.05,
        max_delay=MAX_POLL_DELAY,
        # A worker killed while it held a periodic job's lock must not keep the
        # lock: the jobs are safe to overlap anyway.
        flush_locks=periodic,
    )


def run(app: Flask, *, workers: int = 2, periodic: bool = True) -> None:
    """Run the jobs until SIGINT or SIGTERM (Huey's consumer handles both)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    # One line per job run (one per commit that wrote events) is noise; the
    # consumer's start, stop and errors are not.
    logging.getLogger("huey").setLevel(logging.WARNING)
    logging.getLogger("huey.consumer").setLevel(logging.INFO)
    consumer = consumer_for(app, workers=workers, periodic=periodic)
    # What a worker that died left leased or due is picked up now, not at the
    # next sweep.
    app.extensions[WAKE_UP]()
    consumer.run()


class _ThreadConsumer(Consumer):
    """A consumer that leaves the process's signal handlers alone."""

    def _set_signal_handlers(self):
        pass


@contextmanager
def running(app: Flask, *, workers: int = 2, periodic: bool = False) -> Iterator:
    """Run the app's jobs in threads of this process while the block runs."""
    consumer = _ThreadConsumer(
        queue_of(app),
        workers=workers,
        worker_type="thread",
        periodic=periodic,
        initial_delay=0.01,
        max_delay=0.1,
    )
    consumer.start()
    try:
        yield consumer
    finally:
        consumer.stop(graceful=True)
