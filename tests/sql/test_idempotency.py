"""The idempotency store contract on memory, SQLite and PostgreSQL, including the race that
matters: concurrent requests with the same key, of which exactly one may proceed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from checkout_core.ports.idempotency import IdempotencyRecord
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
