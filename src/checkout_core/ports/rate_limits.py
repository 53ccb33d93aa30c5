"""Counting attempts in a store every API process shares (OWASP API4/API6: card testing, floods).

The port counts *hits* under a key in a **sliding window**: a hit is allowed while fewer than
``limit`` allowed hits of the same key happened in the last ``window`` (ending at ``now``);
a refused hit is not counted, so a client hammering a closed door does not keep it closed
for longer. ``retry_after`` says when the oldest counted hit leaves the window, i.e. when one
more would be allowed. What is counted, under which key and with which limits is decided by
the core (:mod:`checkout_core.usecases.rate_limits`); adapters only count, atomically.

Adapters: ``adapters.memory.rate_limits.MemoryRateLimiter`` (one process: the embedded
default and tests) and ``adapters.redis.rate_limits.RedisRateLimiter`` (shared by every API
process and host)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

import attrs


@attrs.frozen(kw_only=True)
class Decision:
    """What the store said about one hit (or, from ``peek``, about the next one)."""

    #: Whether the hit is allowed (it was counted) — for ``peek``: whether one would be.
    allowed: bool
    #: Hits counted in the window, this one included when it was allowed.
    count: int
    #: Seconds until one more hit would be allowed (0 while allowed; at least 1 when refused).
    retry_after: int = 0


class RateLimiter(Protocol):
    """Sliding-window hit counters shared by every process that uses the same store."""

    def hit(self, key: str, limit: int, window: timedelta, now: datetime) -> Decision:
        """Count one hit under ``key`` if fewer than ``limit`` were counted in the ``window``
        before ``now``; a refused hit is not counted. Atomic: concurrent callers in any process
        never get more than ``limit`` allowed hits per window between them."""
        ...

    def peek(self, key: str, limit: int, window: timedelta, now: datetime) -> Decision:
        """Whether one more hit under ``key`` would be allowed now, counting nothing."""
        ...
