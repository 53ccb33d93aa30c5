"""In-memory idempotency store (tests and the pure-library setup)."""

from __future__ import annotations

import threading
from datetime import datetime

import attrs

from checkout_core.ports.idempotency import IdempotencyRecord, is_abandoned


class MemoryIdempotencyStore:
    """See :class:`checkout_core.ports.idempotency.IdempotencyStore`."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], IdempotencyRecord] = {}
        self._lock = threading.Lock()

    def claim(self, *, scope: str, key: str, request_hash: str, now: datetime) -> IdempotencyRecord | None:
        """Claim or return the existing record."""
        with self._lock:
            existing = self._records.get((scope, key))
            if existing is not None and not is_abandoned(existing, request_hash, now):
                return existing
            self._records[(scope, key)] = IdempotencyRecord(
                scope=scope, key=key, request_hash=request_hash, created_at=now
            )
            return None

    def complete(self, *, scope: str, key: str, status_code: int, body: bytes, content_type: str) -> None:
        """Store the response."""
        with self._lock:
            record = self._records[(scope, key)]
            self._records[(scope, key)] = attrs.evolve(
                record, status_code=status_code, body=body, content_type=content_type
            )

    def release(self, *, scope: str, key: str) -> None:
        """Drop an unfinished claim."""
        with self._lock:
            record = self._records.get((scope, key))
            if record is not None and record.status_code is None:
                del self._records[(scope, key)]
