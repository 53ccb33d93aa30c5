"""Rate limit counters in Redis, shared by every API process and host.

One sorted set per key holds the allowed hits of the sliding window (score: the hit's time in
milliseconds). One Lua script per call drops the hits that left the window, counts, and adds
the new hit if there is room — atomically, so processes racing on the same key never allow
more than the limit between them. The set expires a window after its last hit.

Times are the application clock's (``now``), not Redis's: hosts are expected to keep their
clocks in sync (NTP); a skew of a second only shifts a window by a second.

**If Redis cannot be reached, the limiter lets the attempt through** (and logs an error at most
once a minute): a limiter outage must not become a checkout outage. After a failure it does
not ask Redis again for a few seconds, so a Redis that times out does not add its timeout to
every request. ``/ready`` is unaffected; alert on the log line (see docs/operations.md)."""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import redis

from checkout_core.ports.rate_limits import Decision

log = logging.getLogger("checkout.rate_limits")

#: KEYS[1] the set; ARGV: now (ms), window (ms), limit, member, 1 to count the hit or 0 to peek.
#: Returns {allowed (1/0), count, ms until one more is allowed}.
_SCRIPT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  if ARGV[5] == '1' then
    redis.call('ZADD', KEYS[1], now, ARGV[4])
    redis.call('PEXPIRE', KEYS[1], window)
    count = count + 1
  end
  return {1, count, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, count, tonumber(oldest[2]) + window - now}
"""

#: Seconds between two log lines about Redis being unreachable.
_COMPLAIN_EVERY = 60.0
#: Seconds without asking Redis after a failure.
_BACK_OFF = 5.0


class RedisRateLimiter:
    """The :class:`~checkout_core.ports.rate_limits.RateLimiter` port on Redis."""

    def __init__(self, client: redis.Redis, *, prefix: str = "checkout:rl:") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_SCRIPT)
        self._complained_at = -_COMPLAIN_EVERY
        self._down_until = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "checkout:rl:", timeout: float = 0.5) -> RedisRateLimiter:
        """A limiter on the Redis at ``url`` (``redis://``, ``rediss://`` or ``unix://``); the
        connection is opened on first use, and each call gives up after ``timeout`` seconds."""
        client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
        )
        return cls(client, prefix=prefix)

    def close(self) -> None:
        """Release the connections."""
        self._client.close()

    def ping(self) -> bool:
        """Whether Redis answers."""
        return bool(self._client.ping())

    def _run(self, key: str, limit: int, window: timedelta, now: datetime, count: bool) -> Decision:
        window_ms = max(1, int(window.total_seconds() * 1000))
        now_ms = int(now.timestamp() * 1000)
        member = f"{now_ms}:{secrets.token_hex(6)}"
        if time.monotonic() < self._down_until:
            return Decision(allowed=True, count=0)
        try:
            reply: Any = self._script(
                keys=[self._prefix + key], args=[now_ms, window_ms, limit, member, 1 if count else 0]
            )
        except redis.RedisError as error:
            self._complain(error)
            return Decision(allowed=True, count=0)
        allowed, counted, wait_ms = (int(value) for value in reply)
        if allowed:
            return Decision(allowed=True, count=counted)
        return Decision(allowed=False, count=counted, retry_after=max(1, math.ceil(wait_ms / 1000)))

    def _complain(self, error: Exception) -> None:
        with self._lock:
            now = time.monotonic()
            self._down_until = now + _BACK_OFF
            if now - self._complained_at < _COMPLAIN_EVERY:
                return
            self._complained_at = now
        log.error("rate limits are not enforced: Redis cannot be reached (%s)", type(error).__name__)

    def hit(self, key: str, limit: int, window: timedelta, now: datetime) -> Decision:
        """See :class:`checkout_core.ports.rate_limits.RateLimiter`."""
        return self._run(key, limit, window, now, True)

    def peek(self, key: str, limit: int, window: timedelta, now: datetime) -> Decision:
        """See :class:`checkout_core.ports.rate_limits.RateLimiter`."""
        return self._run(key, limit, window, now, False)
