"""A per-process cache of code -> referrer lookups, for the click path.

A popular link is followed thousands of times a minute; its code resolves to the
same referrer every time. Entries live ``REFERRALS_CODE_CACHE_SECONDS`` (0 turns
the cache off). A change of codes in this process (vanity code, account deletion)
forgets the user's entries at once; other processes see it when the entry expires.
Unknown codes are never cached, so a new account's link works at once everywhere.
"""

import threading
import time
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

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, code: str) -> Any | None:
        """The cached value for a code, or None when absent or expired."""
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

    def forget_user(self, user_id: int) -> None:
        """Drop every code of one user (their codes just changed)."""
        with self._lock:
            stale = [c for c, e in self._entries.items() if e.user_id == user_id]
            for code in stale:
                del self._entries[code]
