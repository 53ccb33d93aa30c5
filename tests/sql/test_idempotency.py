"""The idempotency store contract on memory, SQLite and PostgreSQL, including the race that
matters: concurrent requests with the same key, of which exactly one may proceed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from checkout_core.ports.idempotency import ABANDONED_AFTER, IdempotencyRecord
from tests.sql.builders import T0
from tests.sql.conftest import Backend


def test_claim_complete_replay(backend: Backend) -> None:
    store = backend.idempotency
    assert store.claim(scope="cus_1", key="k1", request_hash="h1", now=T0) is None
    in_flight = store.claim(scope="cus_1", key="k1", request_hash="h1", now=T0)
    assert in_flight == IdempotencyRecord(scope="cus_1", key="k1", request_hash="h1", created_at=T0)
    body = b'{"reservationId": "res_1", "bytes": "\\u00e9"}\x00\xff'
    store.complete(scope="cus_1", key="k1", status_code=201, body=body, content_type="application/json")
    replay = store.claim(scope="cus_1", key="k1", request_hash="other", now=T0)
    assert replay == IdempotencyRecord(
        scope="cus_1", key="k1", request_hash="h1", created_at=T0, status_code=201, body=body
    )


def test_keys_are_scoped(backend: Backend) -> None:
    store = backend.idempotency
    assert store.claim(scope="cus_1", key="k", request_hash="h", now=T0) is None
    assert store.claim(scope="cus_2", key="k", request_hash="h", now=T0) is None


def test_release_forgets_only_unfinished_claims(backend: Backend) -> None:
    store = backend.idempotency
    store.claim(scope="s", key="unfinished", request_hash="h", now=T0)
    store.release(scope="s", key="unfinished")
    assert store.claim(scope="s", key="unfinished", request_hash="h2", now=T0) is None

    store.claim(scope="s", key="done", request_hash="h", now=T0)
    store.complete(scope="s", key="done", status_code=200, body=b"{}", content_type="application/problem+json")
    store.release(scope="s", key="done")
    kept = store.claim(scope="s", key="done", request_hash="h", now=T0)
    assert kept is not None
    assert (kept.status_code, kept.content_type) == (200, "application/problem+json")
    store.release(scope="s", key="never-claimed")  # harmless


def test_completing_an_unclaimed_key_fails(backend: Backend) -> None:
    with pytest.raises(KeyError):
        backend.idempotency.complete(scope="s", key="nope", status_code=200, body=b"", content_type="text/plain")


def test_concurrent_duplicates_have_exactly_one_winner(backend: Backend) -> None:
    threads = 16
    start = threading.Barrier(threads)

    def attempt(n: int) -> IdempotencyRecord | None:
        start.wait()
        return backend.idempotency.claim(scope="cus_1", key="same", request_hash=f"h{n}", now=T0)

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(attempt, range(threads)))
    winners = [r for r in results if r is None]
    assert len(winners) == 1
    losers = [r for r in results if r is not None]
    assert len({r.request_hash for r in losers}) == 1  # all saw the winner's record


def test_an_abandoned_claim_is_taken_over_by_a_retry_with_the_same_body(backend: Backend) -> None:
    store = backend.idempotency
    assert store.claim(scope="s", key="k", request_hash="h", now=T0) is None  # then the process died
    almost = T0 + ABANDONED_AFTER - timedelta(seconds=1)
    later = T0 + ABANDONED_AFTER

    assert store.claim(scope="s", key="k", request_hash="h", now=almost) is not None  # still in flight
    different = store.claim(scope="s", key="k", request_hash="other", now=later)
    assert different is not None and different.request_hash == "h"  # another body: never taken over
    assert store.claim(scope="s", key="k", request_hash="h", now=later) is None  # taken over
    again = store.claim(scope="s", key="k", request_hash="h", now=later)
    assert again is not None and again.created_at == later  # the new claim is fresh, not abandoned
    store.complete(scope="s", key="k", status_code=201, body=b"{}", content_type="application/json")
    finished = store.claim(scope="s", key="k", request_hash="h", now=later + ABANDONED_AFTER * 2)
    assert finished is not None and finished.status_code == 201  # a finished answer is replayed for ever


def test_only_one_of_concurrent_retries_takes_an_abandoned_claim_over(backend: Backend) -> None:
    assert backend.idempotency.claim(scope="s", key="k", request_hash="h", now=T0) is None
    threads = 12
    start = threading.Barrier(threads)
    later = T0 + ABANDONED_AFTER + timedelta(minutes=1)

    def attempt(_: int) -> IdempotencyRecord | None:
        start.wait()
        return backend.idempotency.claim(scope="s", key="k", request_hash="h", now=later)

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(attempt, range(threads)))
    assert sum(r is None for r in results) == 1
    assert all(r.created_at == later for r in results if r is not None)
