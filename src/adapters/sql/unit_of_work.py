"""The SQL unit of work: one connection and one transaction per use-case step.

The connection is taken from the pool on ``__enter__`` and the transaction begins with the
first statement (SQLAlchemy's autobegin; on SQLite that is ``BEGIN IMMEDIATE``, see
:mod:`adapters.sql.engine`). ``commit`` writes the staged outbox events in the same transaction,
commits, then runs the after-commit handlers (:class:`UnitOfWorkBase`); leaving the ``with``
block rolls back whatever was not committed and returns the connection to the pool.

Inside an HTTP request under an ``Idempotency-Key`` (:mod:`adapters.sql.idempotency`) the first
unit of work adopts the transaction that claimed the key, later ones begin with the claim until
one holding it commits, and a commit marked final is left for the request to COMMIT with its
answer. A read-only transaction that holds the claim commits instead of rolling back (the
claim is all it wrote), so the key stays claimed through a use case that reads first.

No pool pre-ping: if the first statement of a transaction finds its pooled connection dead,
it is sent once more on a new connection (nothing was written on the dead one)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import Connection, CursorResult, Engine, Executable, Insert, Select, Update, exc, text

from adapters.sql import direct, tables, together
from adapters.sql import repositories as repos
from adapters.sql import statements as sql
from adapters.sql.engine import (
    SQLITE_NO_BEGIN,
    SQLITE_READ_ONLY,
    BeginFailed,
    in_transactions,
    is_disconnect,
    outside_transactions,
)
from adapters.sql.idempotency import KeyInUse, SqlCall, current_call, run_with_claim, with_claim
from adapters.sql.repositories import conflict_on_unique, translate_db_errors
from adapters.sql.together import Waiting
from checkout_core.model.parties import Advisor, Customer, FinancingApplication, TradeInOffer
from checkout_core.ports.clock import IdGenerator
from checkout_core.ports.unit_of_work import EventHandler, UnitOfWorkBase, are_reads_expected

_T = TypeVar("_T")

log = logging.getLogger("checkout.sql")


class SqlUnitOfWork(UnitOfWorkBase):
    """See :class:`checkout_core.ports.unit_of_work.UnitOfWork`. Not thread-safe: one per
    use-case call, as the core uses it."""

    def __init__(self, engine: Engine, ids: IdGenerator, handlers: Sequence[EventHandler] = ()) -> None:
        super().__init__(ids, handlers)
        self._engine = engine
        self._connection: Connection | None = None
        self._abandoned = False
        #: The request this unit of work runs for (an Idempotency-Key), if any.
        self._call: SqlCall | None = None
        #: Whether the open transaction holds the request's uncommitted claim.
        self._holds_claim = False
        #: The request whose claim is still to be sent: with this transaction's first statement
        #: (PostgreSQL, :meth:`_send_claiming`), else just before it.
        self._pending_claim: SqlCall | None = None
        #: Whether the open transaction has sent a statement yet / one that is not a SELECT.
        self._began = False
        self._wrote = False
        #: Reads are sent outside any transaction until the first write (an HTTP GET's).
        self._outside = False
        #: Set while leaving: commit the read-only transaction holding the claim.
        self._keep_claim = False
        #: Inside ``together()`` on PostgreSQL: the writes waiting to go as one statement.
        self._waiting: list[Waiting] | None = None
        self.outbox = self._outbox = repos.SqlOutbox(self)
        self.vehicles = repos.SqlVehicles(self)
        self.reservations = repos.SqlReservations(self)
        self.orders = repos.SqlOrders(self)
        self.ledger = repos.SqlLedger(self)
        self.customers = repos.SqlDirectory(self, tables.customers, Customer)
        self.advisors = repos.SqlDirectory(self, tables.advisors, Advisor)
        self.trade_ins = repos.SqlDirectory(self, tables.trade_in_offers, TradeInOffer)
        self.financing = repos.SqlDirectory(self, tables.financing_applications, FinancingApplication)
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

    def together(self) -> AbstractContextManager[None]:
        """See :meth:`checkout_core.ports.unit_of_work.UnitOfWork.together`: on PostgreSQL the
        waiting writes go as one statement of data-modifying CTEs (with the outbox rows when the
        block commits); SQLite runs in-process, where a statement costs no round trip, and
        writes at each call."""
        if self.dialect_name != "postgresql" or self._waiting is not None:
            return contextlib.nullcontext()
        return self._together()

    @contextlib.contextmanager
    def _together(self) -> Iterator[None]:
        self._waiting = []
        try:
            yield
            self._send_waiting()
        finally:
            self._waiting = None

    def write(
        self, statement: Insert | Update, params: Any, check: Callable[[int], None], *, unique: str | None = None
    ) -> None:
        """See :meth:`adapters.sql.session.SqlSession.write`. A write waits only if no waiting
        write has its table (CTEs of one statement do not see each other's rows)."""
        waiting = self._waiting
        if (
            waiting is not None
            and isinstance(params, Mapping)
            and all(w.statement.table is not statement.table for w in waiting)
        ):
            waiting.append(Waiting(statement, params, check, unique))
            self._wrote = True
            return
        with conflict_on_unique(unique) if unique else contextlib.nullcontext():
            count = self.count(statement, params)
        check(count)

    def _send_waiting(
        self,
        outbox: Sequence[Mapping[str, Any]] = (),
        *,
        committing: bool = False,
        answer: Callable[[], Waiting | None] | None = None,
    ) -> None:
        """The waiting writes (and ``outbox`` rows) as one statement; then each write's check,
        in the order they were made. A UNIQUE violation is told by its table.

        ``committing``: the statement is the transaction's last. If it is also its first (and
        every check is a row count), it is sent outside any transaction, with the checks inside
        it (:func:`statements.combined`'s ``expected``): a statement on its own is atomic, so
        BEGIN and COMMIT were two round trips for nothing (the settling of a reservation's
        deposit, a webhook's update, …). If a count is off it wrote nothing, and the same
        writes go again in a transaction, whose checks raise the port's error as before.

        ``answer``: makes the request's stored answer (``SqlCall.early_answer``), sent in that
        same statement when it goes outside a transaction — and only then, made only then: sent
        again in a transaction, the writes go without it (the use case may still change its
        answer). An answer that cannot be made is no reason not to write: the writes go alone,
        and the answer is stored at the end as without one."""
        waiting = self._waiting
        if not waiting:
            if outbox:
                self.execute(sql.insert(tables.outbox), list(outbox))
            return
        items = list(waiting)
        waiting.clear()
        if not (committing and self._may_send_alone() and together.may_go_alone(items)):
            together.send(self._send_one, items, outbox)
            return
        early = None
        if answer is not None:
            try:
                early = answer()
            except Exception:
                log.exception("the answer could not be made before the commit; it is stored after it")
        try:
            together.send(self._send_alone, [*items, early] if early else items, outbox, guarded=True)
            if early is not None and self._call is not None:
                self._call.stored_early()
        except exc.DataError as error:
            if getattr(error.orig, "sqlstate", None) != sql.GUARD_TRIPPED:
                raise
            # A count was off: nothing was written. In a transaction, the checks say which.
            self._open_transaction()
            together.send(self._send_one, items, outbox)

    def _send_one(self, statement: Executable, params: Any) -> tuple[Any, ...]:
        """``statement`` in this unit of work's transaction; its one row."""
        return self._send(statement, params).one()

    def rows_first(self, statement: Executable, params: Mapping[str, Any]) -> tuple[Sequence[Mapping[Any, Any]], bool]:
        """See :meth:`adapters.sql.session.SqlSession.rows_first`. Outside a transaction the
        request's pending claim rides in the statement, and commits with it; if the key is in use
        nothing was written, and the claim and the statement go the usual way, in a transaction."""
        if self._waiting or not self._may_send_alone(claim_rides=True):
            return self.rows(statement, params), False
        call, self._pending_claim = self._pending_claim, None
        sent, values = statement, params
        if call is not None:
            merged = with_claim(statement)
            if merged is None:
                self._pending_claim = call
                return self.rows(statement, params), False
            sent, values = merged, {**params, **call.claim_params()}
        if not self._outside:
            self._read_outside_transactions(self.connection)
        run = direct.run if call is None else run_with_claim
        try:
            outcome = self._run(sent, lambda connection: run(connection, sent, values), alone=True)
        except KeyInUse:
            self._pending_claim = call
            self._claim_first()  # in a transaction: KeyTaken, or ours after all
            return self.rows(statement, params), False
        except BaseException:
            self._pending_claim = call  # nothing was written: the next statement claims
            raise
        if call is not None:
            call.claimed_with_statement()
            call.claim_committed()
        return outcome.rows, True

    def _may_send_alone(self, *, claim_rides: bool = False) -> bool:
        """Whether nothing was sent in this unit of work's transaction yet (nor is the request's
        claim in it: that transaction began with the claim), on PostgreSQL."""
        connection = self._connection
        return (
            self.dialect_name == "postgresql"
            and connection is not None
            and not self._began
            and not self._holds_claim
            and (claim_rides or self._pending_claim is None)
            and (self._outside or not connection.in_transaction())
        )

    def _send_alone(self, statement: Executable, params: Any) -> tuple[Any, ...]:
        """``statement`` outside any transaction (autocommit: it commits as it ends)."""
        if not self._outside:
            self._read_outside_transactions(self.connection)
        return self._send(statement, params, alone=True).one()

    def execute(self, statement: Executable, params: Any = None) -> CursorResult[Any]:
        """Run one statement in this unit of work's transaction (repositories go through here);
        writes waiting in :meth:`together` go first. A SELECT that writes or locks says so
        (:data:`statements.LOCKS`: the combined writes, the customer's count).

        Lock and busy errors become the core's retryable Conflict. If SQLite could not even
        begin the transaction, the connection is given up: SQLAlchemy would not try to begin
        again on it, so later statements would silently run in autocommit mode."""
        return self._run(statement, lambda connection: connection.execute(statement, params))

    def rows(self, statement: Executable, params: Any = None) -> Sequence[Mapping[Any, Any]]:
        """The rows of a SELECT (or of a write's ``RETURNING``) as mappings, as
        ``execute(…).mappings().all()`` gives them, by the same rules; on PostgreSQL sent straight
        to psycopg (:mod:`adapters.sql.direct`)."""
        return self._send(statement, params).rows

    def count(self, statement: Executable, params: Any = None) -> int:
        """The row count of a write, as ``execute(…).rowcount`` gives it, by the same rules; on
        PostgreSQL sent straight to psycopg (:mod:`adapters.sql.direct`)."""
        return self._send(statement, params).rowcount

    def _send(self, statement: Executable, params: Any, *, alone: bool = False) -> direct.Outcome:
        if self._pending_claim is not None:
            if self._waiting:
                self._send_waiting()  # the waiting writes' statement carries the claim
            if self._pending_claim is not None:
                return self._send_claiming(self._pending_claim, statement, params)
        return self._run(statement, lambda connection: direct.run(connection, statement, params), alone=alone)

    def _send_claiming(self, call: SqlCall, statement: Executable, params: Any) -> direct.Outcome:
        """The transaction's first statement with the request's claim in it
        (:func:`~adapters.sql.idempotency.with_claim`): a round trip less on every request
        under an ``Idempotency-Key``. If the key is in use the statement did nothing, and the
        claim is made the usual way in a new transaction — KeyTaken if another request has the
        key, else (its claim was released, or abandoned and taken over) the statement goes again."""
        merged = with_claim(statement)
        if merged is None or not isinstance(params, Mapping | None):
            self._claim_first()
            return self._send(statement, params)
        self._pending_claim = None
        values = {**(params or {}), **call.claim_params()}
        wrote = self._wrote
        try:
            outcome = self._run(merged, lambda connection: run_with_claim(connection, merged, values))
        except KeyInUse:
            self.connection.rollback()  # the transaction is aborted; nothing was written in it
            self._began = self._wrote = False
            self._pending_claim = call
            self._claim_first()
            return self._send(statement, params)
        self._holds_claim = True
        self._wrote = wrote or not _is_plain_read(statement)  # the claim is not the use case's write
        call.claimed_with_statement()
        return outcome

    def _claim_first(self) -> None:
        """Send the pending claim as a statement of its own (KeyTaken if the key is in use)."""
        call, self._pending_claim = self._pending_claim, None
        assert call is not None
        call.claim_or_raise(self._send)
        self._holds_claim = True
        self._wrote = False  # the claim is not the use case's write

    def _run(self, statement: Executable, send: Callable[[Connection], _T], *, alone: bool = False) -> _T:
        if self._waiting:
            self._send_waiting()  # first: they carry a pending claim
        if self._pending_claim is not None:
            self._claim_first()  # a statement sent the SQLAlchemy way cannot carry it
        plain_read = _is_plain_read(statement)
        if self._outside and not plain_read and not alone:
            self._open_transaction()
        connection = self.connection
        # Outside a transaction every statement is the first (nothing was written before it).
        first = not self._began
        self._began = not self._outside
        if not plain_read:
            self._wrote = True
        try:
            with translate_db_errors():
                try:
                    return send(connection)
                except exc.DBAPIError as error:
                    if not (first and is_disconnect(error)):
                        raise
                # The pooled connection was dead and this is the transaction's first statement:
                # nothing was written on it, so the statement goes once more on a new one.
                connection.close()
                self._connection = connection = self._engine.connect()
                if self._outside:
                    self._read_outside_transactions(connection)
                return send(connection)
        except Exception as error:
            if isinstance(error, BeginFailed) or isinstance(error.__cause__, BeginFailed):
                self._abandon(connection)
            raise

    def _abandon(self, connection: Connection) -> None:
        self._abandoned = True
        if self._waiting:
            self._waiting.clear()
        self._connection = None
        self._outbox.discard()
        connection.close()

    def __enter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("a unit of work cannot be entered twice")
        call = current_call()
        if call is not None:
            self._call = call
            call.before_transaction()
            adopted = call.take_connection()
            if adopted is not None:
                # The request's claim is this transaction's first statement, already sent.
                self._connection = adopted
                self._holds_claim = self._began = True
                return self
        with translate_db_errors():
            self._connection = self._engine.connect()
        if call is None and are_reads_expected():
            self._read_outside_transactions(self._connection)
        if call is not None and call.needs_claim and self.dialect_name == "postgresql":
            self._pending_claim = call  # sent with the first statement (_send_claiming)
        elif call is not None and call.needs_claim:
            try:
                call.claim_or_raise(self._send)
            except BaseException:
                connection, self._connection = self._connection, None
                if connection is not None:
                    connection.close()
                call.claim_lost()
                raise
            self._holds_claim = True
            self._wrote = False  # the claim is not the use case's write
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc_value: BaseException | None, tb: TracebackType | None
    ) -> None:
        connection = self._connection
        if connection is None:
            return
        # Read-only, and the request's claim is in it: end with COMMIT instead of ROLLBACK (the
        # same cost), so that the key stays claimed for the rest of the use case.
        self._keep_claim = exc_type is None and self._holds_claim and not self._wrote
        try:
            self.rollback()
        finally:
            self._keep_claim = False
            self._connection = None
            connection.close()

    def _read_outside_transactions(self, connection: Connection) -> None:
        # Reads in autocommit see what READ COMMITTED would show them (each statement its own
        # snapshot) and take no locks either, so nothing changes but the BEGIN/ROLLBACK saved.
        if self.dialect_name == "postgresql":
            outside_transactions(connection)
        else:
            connection.execution_options(**{SQLITE_NO_BEGIN: True})
        self._outside = True

    def _open_transaction(self) -> None:
        """The first write of a unit of work that was reading outside transactions: from here on
        it is an ordinary one (its reads so far held no locks, as they would not have inside)."""
        connection = self.connection
        connection.rollback()  # ends SQLAlchemy's bookkeeping only: nothing is open at the database
        if self.dialect_name == "postgresql":
            in_transactions(connection)
        else:
            connection.execution_options(**{SQLITE_NO_BEGIN: False})
        self._outside = False
        self._began = False

    def _commit(self) -> None:
        with translate_db_errors():
            # The outbox rows alone when nothing waits; no COMMIT is sent if nothing began.
            self._send_waiting(self._outbox.take(), committing=True)
            self.connection.commit()
        self._transaction_ended(committed=True)

    def _defer_commit(
        self, after_commit: Callable[[], None], *, errors_to_caller: bool = False, outcome: object = None
    ) -> bool:
        """A final commit inside a request: the transaction is parked with the request, which
        stores its answer in it and commits (see :mod:`adapters.sql.idempotency`). The staged
        outbox rows go with it, unwritten: nothing in the use case reads them, and on PostgreSQL
        they are written by the statement that stores the answer (one round trip less).

        The waiting writes (``together``) go now, with the outbox rows — their errors belong to
        the use case, not to the request after it (reserve's settlement catches a Conflict
        there) — unless the use case gave them to its caller (``errors_to_caller``, place
        order's): then they are parked too, and the answer is stored by the same statement.
        When they go now outside a transaction and the use case said what it will answer
        (``outcome``, reserve's settlement), the answer goes in their statement."""
        call = self._call
        if call is None or self._connection is None or not call.open:
            return False
        if self._pending_claim is not None:
            # Nothing carried the claim yet (a final commit that sent no statement before it):
            # the parked transaction must hold it, or the answer would find no key to store under.
            self._claim_first()
        waiting: list[Waiting] = []
        if self._waiting and errors_to_caller:  # writes only wait on PostgreSQL (together())
            waiting, self._waiting[:] = list(self._waiting), []
        elif self._waiting:
            # The stored answer then goes alone with the COMMIT, or on its own if the writes went
            # outside a transaction — unless it could go with them (outcome).
            answer = None if outcome is None else lambda: call.early_answer(outcome)
            self._send_waiting(self._outbox.take(), committing=True, answer=answer)
        connection, self._connection = self._connection, None
        call.park(connection, after_commit, holds_claim=self._holds_claim, outbox=self._outbox.take(), writes=waiting)
        self._holds_claim = self._began = self._wrote = False
        return True

    def _rollback(self) -> None:
        if self._waiting:
            self._waiting.clear()
        self._outbox.discard()
        self.reservations.forget()
        self.ledger.forget()
        if self._connection is not None and self._keep_claim:
            with translate_db_errors():
                self._connection.commit()  # the claim is all this transaction wrote
            self._transaction_ended(committed=True)
            return
        if self._connection is not None:
            self._connection.rollback()
        self._transaction_ended(committed=False)

    def _transaction_ended(self, *, committed: bool) -> None:
        # A claim still pending was never sent: the next unit of work makes it (needs_claim).
        self._pending_claim = None
        if self._holds_claim and self._call is not None:
            if committed:
                self._call.claim_committed()
            else:
                self._call.claim_lost()
        self._holds_claim = self._began = self._wrote = False


def _is_plain_read(statement: Executable) -> bool:
    """A SELECT without ``FOR UPDATE`` (nor :data:`statements.LOCKS`): it writes nothing and
    locks nothing."""
    return (
        isinstance(statement, Select)
        and statement._for_update_arg is None
        and not statement.get_execution_options().get(sql.LOCKS, False)
    )


def check_connection(engine: Engine) -> None:
    """Raise if the database cannot be reached (a ``SELECT 1`` on a pooled connection).

    On SQLite the check opens a deferred transaction so it never waits behind writers. A pooled
    connection found dead is replaced once (there is no pre-ping)."""
    for attempt in (1, 2):
        with engine.connect() as connection:
            connection.execution_options(**{SQLITE_READ_ONLY: True})
            try:
                connection.execute(text("SELECT 1")).scalar_one()
            except exc.DBAPIError as error:
                if attempt == 2 or not is_disconnect(error):
                    raise
                continue
            connection.rollback()
            return
