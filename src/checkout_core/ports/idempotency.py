"""Idempotency records for client retries (the HTTP ``Idempotency-Key`` header).

A key is claimed before the work starts, so concurrent duplicates cannot both run; the first
response is stored and replayed to every later request with the same key and body.

A claim whose request never finished — its process was killed between the claim and storing the
answer — would otherwise answer "in progress" to every retry for ever. After
:data:`ABANDONED_AFTER`, far longer than any request runs, a retry with the same body takes the
claim over and runs the request again (every use case is safe to run twice: the car claim is
conditional, an order is unique per reservation, gateway calls carry idempotency keys)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

import attrs

#: How long an unfinished claim is kept from a retry before it counts as abandoned.
ABANDONED_AFTER = timedelta(minutes=10)


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
        existing record (finished → replay it; unfinished → a duplicate is in flight). An
        unfinished claim older than :data:`ABANDONED_AFTER` with the same ``request_hash`` is
        taken over (None: go ahead), by one caller only."""
        ...

    def complete(self, *, scope: str, key: str, status_code: int, body: bytes, content_type: str) -> None:
        """Store the response of a claimed key."""
        ...

    def release(self, *, scope: str, key: str) -> None:
        """Forget an unfinished claim (the request failed before a storable answer)."""
        ...


def is_abandoned(record: IdempotencyRecord, request_hash: str, now: datetime) -> bool:
    """Whether a retry with ``request_hash`` may take ``record`` over (see the module docstring)."""
    return (
        record.status_code is None
        and record.request_hash == request_hash
        and now - record.created_at >= ABANDONED_AFTER
    )
