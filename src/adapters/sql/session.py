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
from checkout_core.ports.repositories import StoredEvent


class SeenPayments(Protocol):
    """The ledger repository's memory of the payment rows this unit of work has read."""

    def remember(self, payment: Payment) -> None:
        """Treat ``payment`` as read by this unit of work (another repository read it in a join)."""
        ...

    def add_payment(self, payment: Payment) -> None:
        """Insert a payment (``LedgerRepository.add_payment``)."""
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

    def rows_first(self, statement: Executable, params: Mapping[str, Any]) -> tuple[Sequence[Mapping[Any, Any]], bool]:
        """:meth:`rows` of a statement that is all its step writes: sent outside any transaction
        when it is the unit of work's first (PostgreSQL; a request's pending claim rides in it),
        so it commits as it ends — and then True. Else in the transaction, and False."""
        ...

    def outbox_rows_of(self, aggregate: Aggregate) -> tuple[StoredEvent, ...]:
        """``UnitOfWorkBase.outbox_rows_of``."""
        ...

    def written_with(self, aggregate: Aggregate, rows: Sequence[StoredEvent]) -> None:
        """``UnitOfWorkBase.written_with``."""
        ...
