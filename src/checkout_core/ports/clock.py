"""Time and identity: injected so that tests can fix them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """The current time. Implementations return timezone-aware UTC datetimes."""

    def now(self) -> datetime:
        """Now, in UTC, timezone-aware."""
        ...


class IdGenerator(Protocol):
    """Makes opaque, unguessable ids with a readable prefix (``res_…``, ``ord_…``)."""

    def new(self, prefix: str) -> str:
        """A new id starting with ``prefix_``."""
        ...
