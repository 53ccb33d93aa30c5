"""Schema migrations of the database the units of work use (``checkout db upgrade``)."""

from __future__ import annotations

from typing import Protocol


class Migrations(Protocol):
    """The database schema's revision, and bringing it to the newest one."""

    def current_revision(self) -> str | None:
        """The revision the database is at; None for an empty database."""
        ...

    def upgrade(self) -> None:
        """Bring the schema to the newest revision. Idempotent, and safe to run from several
        processes at once (they migrate one after the other)."""
        ...
