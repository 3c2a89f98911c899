"""Waking the dispatch job after commits that wrote events, at most so often.

Each commit that writes events asks for a dispatch. Queuing one job per commit
would cost every signup a write to the queue; instead a process queues at most
one job per window: a commit inside the window of the last job queued gets its
job from a timer at the window's end (one timer at most), so every commit is
still followed by a dispatch that starts after it.
"""

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class WakeUp:
    """Calls ``enqueue`` after each call, coalescing calls within ``window`` s."""

    def __init__(self, enqueue: Callable[[], object], window: float):
        self._enqueue = enqueue
        self._window = window
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._timer: threading.Timer | None = None

    def __call__(self) -> None:
        if self._window <= 0:
            self._send()
            return
        with self._lock:
            if self._timer is not None:
                return  # a job is owed already, and will start after this commit
            wait = self._last + self._window - time.monotonic()
            if wait > 0:
                self._timer = threading.Timer(wait, self._fire)
                self._timer.daemon = True
                self._timer.start()
                return
            self._last = time.monotonic()
        self._send()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
            self._last = time.monotonic()
        self._send()

    def _send(self) -> None:
        try:
            self._enqueue()
        except Exception:  # a queue that is down must not fail a committed request
            log.exception("could not queue the outbox dispatch; the sweep will")
