"""Idempotency records for client retries (the HTTP ``Idempotency-Key`` header).

A key is claimed before the work starts, so concurrent duplicates cannot both run; the first
response is stored and replayed to every later request with the same key and body.

A claim whose request never finished — its process was killed between the claim and storing the
answer — would otherwise answer "in progress" to every retry for ever. After
:data:`ABANDONED_AFTER`, far longer than any request runs, a retry with the same body takes the
claim over and runs the request again (every use case is safe to run twice: the car claim is
conditional, an order is unique per reservation, gateway calls carry idempotency keys).

One request is one :class:`IdempotentCall` (:meth:`IdempotencyStore.begin`), run in the thread
that runs the use case. A store backed by the use cases' own database (the SQL adapter) makes the
claim the first statement of the use case's first transaction and stores the answer in its last
one (see ``UnitOfWork.mark_final``); the memory store claims and stores on its own. Either way the
caller sees the same three steps: begin (claim, or learn who has the key), run, finish (store the
answer, or release the key)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType
from typing import Protocol, Self

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


@attrs.frozen(kw_only=True)
class StoredAnswer:
    """The response a request produced, as it is stored and replayed."""

    status_code: int
    body: bytes
    content_type: str = "application/json"


class KeyTaken(Exception):
    """Raised where a unit of work claims a key (the first statement of a transaction) that
    another request holds or has answered: the use case stops there, before doing anything, and
    the caller answers from ``record`` (replay, 409 in progress, 422 another body)."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__(f"idempotency key already used in {record.scope}")
        self.record = record


class IdempotentCall(Protocol):
    """One request under an ``Idempotency-Key``, in the thread that runs it. Use as a context
    manager: leaving it rolls back and releases whatever :meth:`finish` did not settle."""

    @property
    def existing(self) -> IdempotencyRecord | None:
        """None if the key is ours (the request may run), else the record that was there first."""
        ...

    def finish(self, answer: StoredAnswer | None) -> IdempotencyRecord | None:
        """Store ``answer`` (None: release the key — a 5xx or 429, the client may retry), in the
        request's last transaction when one is waiting for it. Returns None, or the record that
        turned out to hold the key when the claim had never committed and another request took it
        meanwhile (answer from it instead)."""
        ...

    def earlier(self) -> IdempotencyRecord | None:
        """For a claim that rides in the use case's first statement (see
        :meth:`IdempotencyStore.begin`) and was never made: the record another request left
        under the key, if any — a replay refused before its first statement (a rate limit)
        learns here that it has an answer. None otherwise."""
        ...

    def __enter__(self) -> Self:
        """Nothing to do: :meth:`IdempotencyStore.begin` did the claim."""
        ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Roll back what is still open; after an exception without :meth:`finish`, release the key."""
        ...


class IdempotencyStore(Protocol):
    """Stores idempotency keys and the responses they produced."""

    def begin(
        self,
        *,
        scope: str,
        key: str,
        request_hash: str,
        now: datetime,
        claim_with_first_statement: bool = False,
        answer_of: Callable[[object], StoredAnswer | None] | None = None,
    ) -> IdempotentCall:
        """Start one request: claim ``key`` (as :meth:`claim`); the answer is given to
        :meth:`IdempotentCall.finish` in the same thread.

        ``claim_with_first_statement``: the store may make the claim in the first statement of
        the use case's first unit of work instead, a round trip less (then
        :attr:`IdempotentCall.existing` is None, and a key in use raises :class:`KeyTaken` from
        that statement). Only for a use case that does nothing before its first statement that
        a replay must not do (a gateway call, a write elsewhere).

        ``answer_of``: the answer a use-case outcome renders to (None: not storable), for a
        store that stores it with the last commit's own writes when the use case says what its
        outcome will be (``UnitOfWork.mark_final(outcome=…)``)."""
        ...

    def claim(self, *, scope: str, key: str, request_hash: str, now: datetime) -> IdempotencyRecord | None:
        """Claim ``key`` in ``scope`` (the caller), in a transaction of its own: None if newly
        claimed (go ahead), else the existing record (finished → replay it; unfinished → a duplicate is in flight). An
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
