"""Shared fixtures: a fixed clock at the spec's date, readable ids, the in-memory app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from entrypoints.bootstrap import App, bootstrap_in_memory

SPEC_NOW = datetime(2025, 12, 23, 10, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    """A clock standing at 2025-12-23T10:30:00Z (the spec's reservation time)."""
    return FixedClock(SPEC_NOW)


@pytest.fixture
def memory_app(clock: FixedClock) -> Iterator[App]:
    """The whole core in memory, with the demo data loaded."""
    app = bootstrap_in_memory(clock=clock, ids=SequentialIds())
    load_demo(app.ctx.uow)
    yield app
    app.close()
