"""Waking the dispatch job after commits that wrote events, at most so often.

Each commit that writes events asks for a dispatch. Queuing one job per commit
would cost every signup a write to the queue; instead a process queues at most
one job per window: a commit inside the window of the last job queued gets its
job from a background thread at the window's end (one job owed at most), so
every commit is still followed by a dispatch that starts after it.
"""

import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class WakeUp:
    """Calls ``enqueue`` after each call, coalescing calls within ``window`` s."""

    def __init__(self, enqueue: Callable[[], object], window: float):
        self._enqueue = enqueue
        self._window = window
        self._changed = threading.Condition()
        self._last = float("-inf")
        self._owed = False
        #: The process the waiting thread runs in (a forked worker has none).
        self._thread_pid: int | None = None

    def __call__(self) -> None:
        if self._window <= 0:
            self._send()
            return
        with self._changed:
            if self._owed:
                return  # a job is owed already, and will start after this commit
            now = time.monotonic()
            if now < self._last + self._window:
                self._owed = True
                self._start_thread()
                self._changed.notify()
                return
            self._last = now
        self._send()

    def _start_thread(self) -> None:
        if self._thread_pid != os.getpid():
            self._thread_pid = os.getpid()
            name = "referrals-wake-up"
            threading.Thread(target=self._run, name=name, daemon=True).start()

    def _run(self) -> None:
        """Queue each owed job at the end of its window, for as long as we live."""
        while True:
            with self._changed:
                while not self._owed:
                    self._changed.wait()
                wait = self._last + self._window - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            with self._changed:
                self._owed = False
                self._last = time.monotonic()
            self._send()

    def _send(self) -> None:
        try:
            self._enqueue()
        except Exception as error:  # a queue that is down must not fail a commit
            # Expected while the queue's Redis is away: one line, not a traceback
            # per window of every worker.
            log.warning(
                "could not queue the outbox dispatch (%s: %s); the sweep will",
                type(error).__name__,
                str(error).splitlines()[0] if str(error) else "",
            )
