"""Idempotency records for client retries (the HTTP ``Idempotency-Key`` header).

A key is claimed before the work starts, so concurrent duplicates cannot both run; the first
response is stored and replayed to every later request with the same key and body."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import attrs


@attrs.frozen(kw_only=True)
class IdempotencyRecord:
    """A claimed key: ``status_code`` is None while the first request is still running."""

    scope: str
    key: str
    request_hash: str
    created_at: datetime
    status_code: int | None = None
    body: bytes = b""
    content_type: str = "application/json"


class IdempotencyStore(Protocol):
    """Stores idempotency keys and the responses they produced. Its own short transactions."""

    def claim(self, *, scope: str, key: str, request_hash: str, now: datetime) -> IdempotencyRecord | None:
        """Claim ``key`` in ``scope`` (the caller): None if newly claimed (go ahead), else the
        existing record (finished → replay it; unfinished → a duplicate is in flight)."""
        ...

    def complete(self, *, scope: str, key: str, status_code: int, body: bytes, content_type: str) -> None:
        """Store the response of a claimed key."""
        ...

    def release(self, *, scope: str, key: str) -> None:
        """Forget an unfinished claim (the request failed before a storable answer)."""
        ...
