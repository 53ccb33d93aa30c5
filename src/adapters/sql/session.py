"""What the SQL repositories need from the unit of work they run in.

A protocol of its own so that :mod:`adapters.sql.repositories` does not import
:mod:`adapters.sql.unit_of_work` (which builds the repositories): the two modules used to import
each other."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import CursorResult, Executable, Insert, Update

from checkout_core.model.aggregate import Aggregate
from checkout_core.model.payments import Payment


class SeenPayments(Protocol):
    """The ledger repository's memory of the payment rows this unit of work has read."""

    def remember(self, payment: Payment) -> None:
        """Treat ``payment`` as read by this unit of work (another repository read it in a join)."""
        ...


class SqlSession(Protocol):
    """One open transaction (implemented by :class:`adapters.sql.unit_of_work.SqlUnitOfWork`)."""

    @property
    def dialect_name(self) -> str:
        """``sqlite`` or ``postgresql``."""
        ...

    @property
    def ledger(self) -> SeenPayments:
        """The ledger repository of the same unit of work."""
        ...

    def execute(self, statement: Executable, params: Any = None) -> CursorResult[Any]:
        """Run one statement in the transaction."""
        ...

    def rows(self, statement: Executable, params: Any = None) -> Sequence[Mapping[Any, Any]]:
        """The rows of a SELECT or of a write's ``RETURNING`` as mappings
        (``execute(…).mappings().all()``, sent more cheaply)."""
        ...

    def count(self, statement: Executable, params: Any = None) -> int:
        """The row count of a write (``execute(…).rowcount``, sent more cheaply)."""
        ...

    def write(
        self, statement: Insert | Update, params: Any, check: Callable[[int], None], *, unique: str | None = None
    ) -> None:
        """Run a write whose caller needs only ``check`` of its row count (which raises the
        port's error), now or — inside :meth:`UnitOfWork.together` — with the writes that wait;
        a UNIQUE violation becomes Conflict(``unique``) when ``unique`` is given."""
        ...

    def track(self, aggregate: Aggregate) -> None:
        """Remember an aggregate so its events are stored on commit."""
        ...
