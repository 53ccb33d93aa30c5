"""The unit of work: one transaction per use-case call, with its repositories and outbox.

A unit of work rolls back unless ``commit()`` was called. On commit it writes the events raised
by every aggregate it has seen into the outbox *in the same transaction*, and only after the
transaction succeeded hands them to the in-process handlers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from types import TracebackType
from typing import Protocol, Self

from checkout_core.events import DomainEvent, event_payload
from checkout_core.model.aggregate import Aggregate
from checkout_core.ports.clock import IdGenerator
from checkout_core.ports.repositories import (
    AdvisorDirectory,
    CustomerDirectory,
    FinancingApplications,
    OrderRepository,
    Outbox,
    PaymentLedger,
    ReservationRepository,
    SigningAuditTrail,
    StoredEvent,
    TradeInOffers,
    VehicleRepository,
)

EventHandler = Callable[[Sequence[DomainEvent]], None]

_reads_expected: ContextVar[bool] = ContextVar("checkout_reads_expected", default=False)


@contextmanager
def reads_expected() -> Iterator[None]:
    """Declare that what runs inside (an HTTP GET) is expected to only read. A unit of work may
    then send its reads without opening a transaction (no BEGIN, no ROLLBACK: two round trips
    fewer), and opens one at its first write. Only a hint: a write is never refused."""
    token = _reads_expected.set(True)
    try:
        yield
    finally:
        _reads_expected.reset(token)


def are_reads_expected() -> bool:
    """Whether the caller declared :func:`reads_expected`."""
    return _reads_expected.get()


class UnitOfWork(Protocol):
    """One transaction. Use as ``with uow_factory() as uow: …; uow.commit()``."""

    @property
    def vehicles(self) -> VehicleRepository:
        """Cars."""
        ...

    @property
    def reservations(self) -> ReservationRepository:
        """Reservations."""
        ...

    @property
    def orders(self) -> OrderRepository:
        """Orders."""
        ...

    @property
    def ledger(self) -> PaymentLedger:
        """Payments and refunds."""
        ...

    @property
    def customers(self) -> CustomerDirectory:
        """Customers."""
        ...

    @property
    def advisors(self) -> AdvisorDirectory:
        """Advisors."""
        ...

    @property
    def trade_ins(self) -> TradeInOffers:
        """Trade-in offers."""
        ...

    @property
    def financing(self) -> FinancingApplications:
        """Financing applications."""
        ...

    @property
    def audit(self) -> SigningAuditTrail:
        """The signing audit trail."""
        ...

    @property
    def outbox(self) -> Outbox:
        """Stored events."""
        ...

    def __enter__(self) -> Self:
        """Begin the transaction."""
        ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Roll back whatever was not committed and release the connection."""
        ...

    def track(self, aggregate: Aggregate) -> None:
        """Remember an aggregate so its events are stored on commit (repositories call this)."""
        ...

    def emit(self, *events: DomainEvent) -> None:
        """Stage events that belong to no loaded aggregate."""
        ...

    def mark_final(self, *, errors_to_caller: bool = False, outcome: object = None) -> None:
        """Declare that the next :meth:`commit` is the use case's last: nothing external (no
        gateway call, no other transaction) follows it. An HTTP request under an
        ``Idempotency-Key`` may then store its answer in this transaction just before its COMMIT,
        instead of in a transaction of its own; anywhere else the commit is a plain commit. Never
        mark a commit that a gateway call follows (the money rule: the intent commits first).

        ``errors_to_caller``: the use case does not handle the errors of that commit's waiting
        writes (:meth:`together`) — they would only leave it. The request may then send those
        writes with its answer, as one statement, and raise their error (Conflict,
        VehicleUnavailable) itself, after the use case returned: its answer is then that error's,
        and nothing of the transaction is written. Only for a commit whose failure the use case
        would not catch.

        ``outcome``: what the use case will return (or the exception it will raise) once that
        commit succeeds — the request may then render its answer before the commit and store it
        with the commit's own writes, one statement (a commit that fails stores nothing, and the
        use case goes on as without it). Only an outcome fixed before the commit: the answer
        stored is the one this value renders to."""
        ...

    def together(self) -> AbstractContextManager[None]:
        """A block whose writes may reach the database together, as one statement, when it ends
        (or with the outbox rows, when the block commits): the round trips of a use case's last
        writes. So a write in the block may raise its error (Conflict, VehicleUnavailable) when
        the block ends or at its commit rather than at its call, and the block must not read
        back what it wrote. Only the add, save and move verbs that return nothing wait; every other
        statement first sends what waits. Adapters that gain nothing (no network between them
        and their data) write at each call."""
        ...

    def commit(self) -> None:
        """Store staged events in the outbox, commit, then run the after-commit handlers."""
        ...

    @property
    def committed_events(self) -> Sequence[StoredEvent]:
        """The events the last commit stored, as stored (a use case can answer with them
        instead of reading them back)."""
        ...

    def rollback(self) -> None:
        """Forget everything since the last commit."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class UnitOfWorkBase:
    """Event bookkeeping shared by every unit-of-work adapter.

    Subclasses provide the repositories and ``_commit`` / ``_rollback``; this class turns the
    events of tracked aggregates into outbox rows and calls the handlers after a real commit.
    """

    outbox: Outbox

    def __init__(self, ids: IdGenerator, handlers: Sequence[EventHandler] = ()) -> None:
        self._ids = ids
        self._handlers = tuple(handlers)
        self._seen: list[Aggregate] = []
        # Identity of each tracked aggregate (they stay referenced by ``_seen``, so no id is
        # reused): a batch tracks hundreds, and a linear search per ``track`` was quadratic.
        self._seen_ids: set[int] = set()
        self._staged: list[DomainEvent] = []
        self._committed: tuple[StoredEvent, ...] = ()
        self._final = False
        self._errors_to_caller = False
        self._outcome: object = None
        #: Events an adapter wrote with their aggregate (:meth:`events_written_with`).
        self._written: list[tuple[DomainEvent, StoredEvent]] = []

    @property
    def committed_events(self) -> Sequence[StoredEvent]:
        """See :meth:`UnitOfWork.committed_events`."""
        return self._committed

    def track(self, aggregate: Aggregate) -> None:
        """See :meth:`UnitOfWork.track`."""
        if id(aggregate) not in self._seen_ids:
            self._seen_ids.add(id(aggregate))
            self._seen.append(aggregate)

    def emit(self, *events: DomainEvent) -> None:
        """See :meth:`UnitOfWork.emit`."""
        self._staged.extend(events)

    def mark_final(self, *, errors_to_caller: bool = False, outcome: object = None) -> None:
        """See :meth:`UnitOfWork.mark_final`."""
        self._final = True
        self._errors_to_caller = errors_to_caller
        self._outcome = outcome

    def together(self) -> AbstractContextManager[None]:
        """See :meth:`UnitOfWork.together`: by default each write goes at its call."""
        return nullcontext()

    def commit(self) -> None:
        """See :meth:`UnitOfWork.commit`."""
        final, self._final = self._final, False
        errors_to_caller, self._errors_to_caller = self._errors_to_caller, False
        outcome, self._outcome = self._outcome, None
        events = list(self._staged)
        for aggregate in self._seen:
            events.extend(aggregate.pull_events())
        events.sort(key=lambda e: e.occurred_at)
        stored = tuple(self._stored_event(event) for event in events)
        for row in stored:
            self.outbox.add(row)
        if self._written:  # written by an adapter with their aggregate: reported, not written again
            events = sorted([*events, *(event for event, _ in self._written)], key=lambda e: e.occurred_at)
            stored = tuple(sorted([*stored, *(row for _, row in self._written)], key=lambda r: r.occurred_at))
            self._written.clear()

        def after_commit() -> None:
            if events:
                for handler in self._handlers:
                    handler(events)

        if final and self._defer_commit(after_commit, errors_to_caller=errors_to_caller, outcome=outcome):
            # The COMMIT is the request's to send, with its answer; the handlers run after it.
            self._committed = stored
            self._staged.clear()
            return
        self._commit()
        self._committed = stored
        self._staged.clear()
        after_commit()

    def rollback(self) -> None:
        """See :meth:`UnitOfWork.rollback`."""
        for aggregate in self._seen:
            aggregate.pull_events()
        self._staged.clear()
        self._written.clear()
        self._rollback()

    def _stored_event(self, event: DomainEvent) -> StoredEvent:
        return StoredEvent(
            id=self._ids.new("evt"),
            aggregate_id=event.aggregate_id,
            name=event.name,
            payload=event_payload(event),
            occurred_at=event.occurred_at,
        )

    def outbox_rows_of(self, aggregate: Aggregate) -> tuple[StoredEvent, ...]:
        """For an adapter that may write ``aggregate``'s pending events in the statement that
        writes the aggregate: those events as outbox rows, left pending. If the statement wrote
        them, :meth:`written_with` says so."""
        return tuple(self._stored_event(event) for event in aggregate.pending_events)

    def written_with(self, aggregate: Aggregate, rows: Sequence[StoredEvent]) -> None:
        """``rows`` (:meth:`outbox_rows_of`) were written with ``aggregate``: its events are
        taken from it, and the next :meth:`commit` reports them (handlers,
        :attr:`committed_events`) without writing them again; a rollback forgets them."""
        self._written.extend(zip(aggregate.pull_events(), rows, strict=True))

    def _commit(self) -> None:
        raise NotImplementedError

    def _defer_commit(
        self, after_commit: Callable[[], None], *, errors_to_caller: bool = False, outcome: object = None
    ) -> bool:
        """A final commit: hand the open transaction to whoever will COMMIT it (and then call
        ``after_commit``), and True; or False for a plain commit. Adapters without such a
        taker (the default) commit at once. ``errors_to_caller``, ``outcome``: see
        :meth:`UnitOfWork.mark_final`."""
        del after_commit, errors_to_caller, outcome
        return False

    def _rollback(self) -> None:
        raise NotImplementedError
