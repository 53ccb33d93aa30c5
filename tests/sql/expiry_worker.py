"""One expiry sweeper process for the multi-process test (started with ``spawn``, so it builds
everything itself: engine, clock, the shared sandbox gateway file)."""

from __future__ import annotations

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


def sweep(url: str, gateway_path: str, now: str, batch_size: int, start: Barrier, results: Queue[int]) -> None:
    """Wait for the other sweepers, then expire what is due; put the count on ``results``."""
    clock = FixedClock(datetime.fromisoformat(now))
    engine = make_engine(url, pool_size=2, max_overflow=0)
    gateway = SandboxGateway(clock, Path(gateway_path))
    ids = RandomIds()
    ctx = Context(
        uow=lambda: SqlUnitOfWork(engine, ids),
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
