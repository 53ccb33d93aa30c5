"""In-process rate limit counters: the embedded default (one process) and tests.

Each process counts on its own, so N processes allow N times the limit: the composition root
uses this store only when no Redis is configured (see docs/operations.md)."""

from __future__ import annotations

import math
import threading
from collections import deque
from datetime import datetime, timedelta

from checkout_core.ports.rate_limits import Decision

#: Keys kept before a sweep forgets those whose hits have all left their window.
_SWEEP_AT = 10_000


class MemoryRateLimiter:
    """Sliding-window log per key (the times of the allowed hits), behind one lock."""

    def __init__(self) -> None:
        self._hits: dict[str, tuple[float, deque[float]]] = {}
        self._lock = threading.Lock()

    def _window(self, key: str, window: timedelta, now: float) -> deque[float]:
        seconds = window.total_seconds()
        _, hits = self._hits.get(key, (seconds, deque()))
        while hits and hits[0] <= now - seconds:
            hits.popleft()
        self._hits[key] = (seconds, hits)
        return hits

    def _decide(self, hits: deque[float], limit: int, window: timedelta, now: float) -> Decision:
        if len(hits) < limit:
            return Decision(allowed=True, count=len(hits))
        wait = hits[0] + window.total_seconds() - now
        return Decision(allowed=False, count=len(hits), retry_after=max(1, math.ceil(wait)))

    def hit(self, key: str, limit: int, window: timedelta, now: datetime) -> Decision:
        """See :class:`checkout_core.ports.rate_limits.RateLimiter`."""
        at = now.timestamp()
        with self._lock:
            if len(self._hits) >= _SWEEP_AT:
                self._sweep(at)
            hits = self._window(key, window, at)
            decision = self._decide(hits, limit, window, at)
            if decision.allowed:
                hits.append(at)
                decision = Decision(allowed=True, count=len(hits))
            return decision

    def peek(self, key: str, limit: int, window: timedelta, now: datetime) -> Decision:
        """See :class:`checkout_core.ports.rate_limits.RateLimiter`."""
        at = now.timestamp()
        with self._lock:
            return self._decide(self._window(key, window, at), limit, window, at)

    def _sweep(self, now: float) -> None:
        for key, (seconds, hits) in list(self._hits.items()):
            if not hits or hits[-1] <= now - seconds:
                del self._hits[key]
