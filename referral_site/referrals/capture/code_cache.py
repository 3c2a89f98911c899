"""A per-process cache of code -> referrer lookups, for the click path.

A popular link is followed thousands of times a minute; its code resolves to the
same referrer every time. A change of codes in this process (vanity code, account
deletion or suspension) forgets the user's entries at once; every other process
hears of it through code_changes.py within moments. Entries live at most
``REFERRALS_CODE_CACHE_SECONDS`` (0 turns the cache off), the fallback when no
notice can come. Unknown codes are never cached, so a new account's link works at
once everywhere.
"""

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Most entries kept; the oldest are dropped first beyond this.
MAX_ENTRIES = 50_000


@dataclass(frozen=True)
class _Entry:
    value: Any
    user_id: int
    expires: float


class CodeCache:
    """Code -> value, with expiry and per-user invalidation; thread-safe."""

    def __init__(
        self, ttl_seconds: float, on_first_use: Callable[[], None] | None = None
    ) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        #: Run once in each process that uses the cache (starts its listener).
        self.on_first_use = on_first_use
        self._user_pid: int | None = None
        #: On SQLite, the stamp file other workers touch when codes change
        #: (code_changes.StampWatch); None elsewhere.
        self.watch = None

    def get(self, code: str) -> Any | None:
        """The cached value for a code, or None when absent or expired."""
        if self._user_pid != os.getpid():
            self._first_use_in_this_process()
        if self.watch is not None and self.watch.moved():
            self.clear()
        entry = self._entries.get(code)
        if entry is None or entry.expires < time.monotonic():
            return None
        return entry.value

    def put(self, code: str, user_id: int, value: Any) -> None:
        """Remember a code's value for the TTL."""
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                # dicts keep insertion order: the first key is the oldest entry.
                del self._entries[next(iter(self._entries))]
            self._entries[code] = _Entry(value, user_id, time.monotonic() + self.ttl)

    def forget_user(self, user_id) -> None:
        """Drop every code of one user (their codes just changed).

        The id may come as text (a notice's payload) for an integer key.
        """
        key = str(user_id)
        with self._lock:
            stale = [c for c, e in self._entries.items() if str(e.user_id) == key]
            for code in stale:
                del self._entries[code]

    def clear(self) -> None:
        """Drop every entry (changes may have been missed)."""
        with self._lock:
            self._entries.clear()

    def _first_use_in_this_process(self) -> None:
        with self._lock:
            if self._user_pid == os.getpid():
                return
            # Threads do not survive fork(): each worker process starts its own.
            self._user_pid = os.getpid()
            self._entries.clear()
        if self.on_first_use is not None and self.ttl > 0:
            self.on_first_use()
