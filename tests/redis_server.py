"""The test Redis, with a key prefix of its own per test (tests run in parallel by several
people on one Redis, so no test uses a fixed prefix, and each deletes its keys afterwards).

The server is ``CHECKOUT_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``). When it cannot
be reached the test is *skipped* with the reason, except under ``CI=true``, where a missing
Redis is a failure (``.ci/run`` starts one): CI must never pass by skipping.

Usage: ``from tests.redis_server import redis_url, redis_prefix`` and take the fixtures
``redis_url`` (the URL) and ``redis_prefix`` (a fresh ``test:<uuid>:`` prefix, its keys deleted
after the test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def server_url() -> str:
    """The test Redis's URL."""
    return os.environ.get("CHECKOUT_TEST_REDIS_URL") or DEFAULT_URL


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _require(url: str) -> None:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2) as client:
            client.ping()
    except redis.RedisError as error:
        message = f"Redis is not available at {url}: {error} (set CHECKOUT_TEST_REDIS_URL to run these tests)"
        if _in_ci():
            pytest.fail(message + " — CI=true, so this is a failure, not a skip", pytrace=False)
        pytest.skip(message)


@pytest.fixture
def redis_url() -> str:
    """The test Redis's URL (skips, or fails under CI, when it cannot be reached)."""
    url = server_url()
    _require(url)
    return url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test uses; every key under it is deleted after the test."""
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
