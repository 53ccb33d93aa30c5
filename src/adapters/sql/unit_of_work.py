"""The SQL unit of work: one connection and one transaction per use-case step.

The connection is taken from the pool on ``__enter__`` and the transaction begins with the
first statement (SQLAlchemy's autobegin; on SQLite that is ``BEGIN IMMEDIATE``, see
:mod:`adapters.sql.engine`). ``commit`` writes the staged outbox events in the same transaction,
commits, then runs the after-commit handlers (:class:`UnitOfWorkBase`); leaving the ``with``
block rolls back whatever was not committed and returns the connection to the pool."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Connection, CursorResult, Engine, Executable, text

from adapters.sql import repositories as repos
from adapters.sql.engine import SQLITE_READ_ONLY, BeginFailed
from adapters.sql.repositories import translate_db_errors
from checkout_core.ports.clock import IdGenerator
from checkout_core.ports.unit_of_work import EventHandler, UnitOfWorkBase


class SqlUnitOfWork(UnitOfWorkBase):
    """See :class:`checkout_core.ports.unit_of_work.UnitOfWork`. Not thread-safe: one per
    use-case call, as the core uses it."""

    def __init__(self, engine: Engine, ids: IdGenerator, handlers: Sequence[EventHandler] = ()) -> None:
        super().__init__(ids, handlers)
        self._engine = engine
        self._connection: Connection | None = None
        self._abandoned = False
        self.outbox = self._outbox = repos.SqlOutbox(self)
        self.vehicles = repos.SqlVehicles(self)
        self.reservations = repos.SqlReservations(self)
        self.orders = repos.SqlOrders(self)
        self.ledger = repos.SqlLedger(self)
        self.customers = repos.SqlCustomers(self)
        self.advisors = repos.SqlAdvisors(self)
        self.trade_ins = repos.SqlTradeIns(self)
        self.financing = repos.SqlFinancing(self)
        self.audit = repos.SqlAuditTrail(self)

    @property
    def connection(self) -> Connection:
        """The open connection (only inside the ``with`` block)."""
        if self._connection is None:
            if self._abandoned:
                raise RuntimeError("this unit of work could not begin a transaction; start a new one")
            raise RuntimeError("the unit of work is not open: use it as `with uow_factory() as uow:`")
        return self._connection

    @property
    def dialect_name(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def execute(self, statement: Executable, params: Any = None) -> CursorResult[Any]:
        """Run one statement in this unit of work's transaction (repositories go through here).

        Lock and busy errors become the core's retryable Conflict. If SQLite could not even
        begin the transaction, the connection is given up: SQLAlchemy would not try to begin
        again on it, so later statements would silently run in autocommit mode."""
        connection = self.connection
        try:
            with translate_db_errors():
                return connection.execute(statement, params)
        except Exception as error:
            if isinstance(error, BeginFailed) or isinstance(error.__cause__, BeginFailed):
                self._abandon(connection)
            raise

    def _abandon(self, connection: Connection) -> None:
        self._abandoned = True
        self._connection = None
        self._outbox.discard()
        connection.close()

    def __enter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("a unit of work cannot be entered twice")
        with translate_db_errors():
            self._connection = self._engine.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            self.rollback()
        finally:
            self._connection = None
            connection.close()

    def _commit(self) -> None:
        with translate_db_errors():
            self._outbox.flush()
            self.connection.commit()

    def _rollback(self) -> None:
        self._outbox.discard()
        self.reservations.forget()
        self.ledger.forget()
        if self._connection is not None:
            self._connection.rollback()


def check_connection(engine: Engine) -> None:
    """Raise if the database cannot be reached (a ``SELECT 1`` on a pooled connection).

    On SQLite the check opens a deferred transaction so it never waits behind writers."""
    with engine.connect() as connection:
        connection.execution_options(**{SQLITE_READ_ONLY: True})
        connection.execute(text("SELECT 1")).scalar_one()
        connection.rollback()
