"""One expiry sweeper process for the multi-process test (started with ``spawn``, so it builds
everything itself: engine, clock, the shared sandbox gateway file)."""

from __future__ import annotations

import time
from datetime import datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from adapters.memory.documents import MemoryDocumentStore, PlainSignedCopyMaker, PlainTextAgreementRenderer
from adapters.payments.sandbox import SandboxGateway
from adapters.signing.builtin import BuiltinSigner
from adapters.sql.engine import make_engine
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.clock import FixedClock
from adapters.system.ids import RandomIds
from checkout_core.usecases.context import Context
from checkout_core.usecases.reservations import expire_due_reservations


class _PausingUnitOfWork(SqlUnitOfWork):
    """On SQLite the write lock is not handed over fairly: a waiter sleeps in SQLite's busy
    handler (backing off up to 100 ms) while the sweeper that just committed takes the lock again
    at once, so one sweeper could do every batch and the test would not test overlap. A pause
    after each commit (the lock is free then) gives the waiters their turn, as real workers doing
    other work between batches do."""

    def commit(self) -> None:
        super().commit()
        time.sleep(0.12)


def sweep(url: str, gateway_path: str, now: str, batch_size: int, start: Barrier, results: Queue[int]) -> None:
    """Wait for the other sweepers, then expire what is due; put the count on ``results``."""
    clock = FixedClock(datetime.fromisoformat(now))
    engine = make_engine(url, pool_size=2, max_overflow=0)
    gateway = SandboxGateway(clock, Path(gateway_path))
    ids = RandomIds()
    unit_of_work = _PausingUnitOfWork if url.startswith("sqlite") else SqlUnitOfWork
    ctx = Context(
        uow=lambda: unit_of_work(engine, ids),
        clock=clock,
        ids=ids,
        gateway=gateway,
        documents=MemoryDocumentStore(),
        renderer=PlainTextAgreementRenderer(),
        signer=BuiltinSigner("http://127.0.0.1:8000"),
        signed_copies=PlainSignedCopyMaker(),
    )
    try:
        start.wait(60)
        results.put(expire_due_reservations(ctx, batch_size=batch_size))
    finally:
        gateway.close()
        engine.dispose()
