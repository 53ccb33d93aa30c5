"""Shared by the tests that start real ``checkout`` processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

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


def pass_results(worker: ManagedProcess, key: str) -> list[dict[str, Any]]:
    """A job worker's pass results (its JSON Lines on stdout) that carry ``key``. Its log lines
    are JSON objects too when its output is not a terminal: they are told apart by the key."""
    results = []
    for line in worker.output_lines():
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and key in record:
                results.append(record)
    return results
