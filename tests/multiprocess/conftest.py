"""Shared by the tests that start real ``checkout`` processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bench.load import Call
from bench.servers import ManagedProcess


@pytest.fixture
def processes() -> Iterator[list[ManagedProcess]]:
    """Everything the test starts; stopped (SIGTERM, then SIGKILL) whatever happens."""
    started: list[ManagedProcess] = []
    yield started
    for process in started:
        process.stop()


def spread(calls: list[Call]) -> list[Call]:
    """Alternate the calls between the two API processes."""
    return [Call(c.method, c.path, c.headers, c.json, base=n % 2, tag=c.tag) for n, c in enumerate(calls)]
