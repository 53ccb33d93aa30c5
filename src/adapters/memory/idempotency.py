"""In-memory idempotency store (tests and the pure-library setup)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Self

import attrs

from checkout_core.ports.idempotency import IdempotencyRecord, StoredAnswer, is_abandoned


class MemoryCall:
    """See :class:`checkout_core.ports.idempotency.IdempotentCall`: claimed up front, the
    answer stored at the end (there are no transactions to ride in)."""

    def __init__(
        self, store: MemoryIdempotencyStore, *, scope: str, key: str, request_hash: str, now: datetime
    ) -> None:
        self._store = store
        self._scope = scope
        self._key = key
        self._finished = False
        self.existing = store.claim(scope=scope, key=key, request_hash=request_hash, now=now)

    def finish(self, answer: StoredAnswer | None) -> IdempotencyRecord | None:
        """Store ``answer``, or release the key."""
        self._finished = True
        if answer is None:
            self._store.release(scope=self._scope, key=self._key)
        else:
            self._store.complete(
                scope=self._scope,
                key=self._key,
                status_code=answer.status_code,
                body=answer.body,
                content_type=answer.content_type,
            )
        return None

    def earlier(self) -> IdempotencyRecord | None:
        """Always None: the claim was made at :meth:`MemoryIdempotencyStore.begin`."""
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._finished and self.existing is None:
            self.finish(None)


class MemoryIdempotencyStore:
    """See :class:`checkout_core.ports.idempotency.IdempotencyStore`."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], IdempotencyRecord] = {}
        self._lock = threading.Lock()

    def begin(
        self,
        *,
        scope: str,
        key: str,
        request_hash: str,
        now: datetime,
        claim_with_first_statement: bool = False,
        answer_of: Callable[[object], StoredAnswer | None] | None = None,
    ) -> MemoryCall:
        """Claim ``key`` for one request (at once, whatever ``claim_with_first_statement`` says:
        in memory a claim costs no round trip; the answer is stored at the end, ``answer_of``
        unused)."""
        del claim_with_first_statement, answer_of
        return MemoryCall(self, scope=scope, key=key, request_hash=request_hash, now=now)

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
