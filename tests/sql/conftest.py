"""Fixtures for the persistence tests: the three backends (memory, SQLite, PostgreSQL) behind
one interface, and whole applications on SQLite or PostgreSQL.

PostgreSQL tests get a private database per test module (``tests/postgres.py``), emptied
before each test, so they never see each other's rows nor anyone else's."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import attrs
import pytest
from sqlalchemy import Engine, text

from adapters.memory.documents import MemoryDocumentStore, PlainSignedCopyMaker, PlainTextAgreementRenderer
from adapters.memory.idempotency import MemoryIdempotencyStore
from adapters.memory.unit_of_work import MemoryStore, MemoryUnitOfWork
from adapters.payments.sandbox import SandboxGateway
from adapters.signing.builtin import BuiltinSigner
from adapters.sql.engine import make_engine
from adapters.sql.gateway_events import SqlProcessedEvents
from adapters.sql.idempotency import SqlIdempotencyStore
from adapters.sql.migrations import upgrade_database
from adapters.sql.tables import metadata
from adapters.sql.unit_of_work import SqlUnitOfWork, check_connection
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.events import DomainEvent
from checkout_core.ports.clock import Clock, IdGenerator
from checkout_core.ports.idempotency import IdempotencyStore
from checkout_core.ports.payments import PaymentGateway
from checkout_core.ports.unit_of_work import UnitOfWork
from checkout_core.usecases.context import Context
from entrypoints.bootstrap import App, policy_from, token_service
from entrypoints.settings import Settings
from tests.postgres import postgres_database

SQL_BACKENDS = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
ALL_BACKENDS = [pytest.param("memory"), *SQL_BACKENDS]


def sqlite_url(directory: Path) -> str:
    """A SQLite file database in ``directory``."""
    return f"sqlite:///{directory / 'checkout.sqlite3'}"


def empty_all_tables(engine: Engine) -> None:
    """Delete every row of every application table (PostgreSQL; restarts the outbox sequence)."""
    names = ", ".join(table.name for table in metadata.sorted_tables)  # our own table names
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="module")
def pg_database() -> Iterator[tuple[str, Engine]]:
    """A migrated private PostgreSQL database for this test module: (url, engine)."""
    with postgres_database() as url:
        engine = make_engine(url)
        try:
            upgrade_database(engine)
            yield url, engine
        finally:
            engine.dispose()


@pytest.fixture
def pg_engine(pg_database: tuple[str, Engine]) -> Engine:
    """The module's PostgreSQL engine, emptied for this test."""
    engine = pg_database[1]
    empty_all_tables(engine)
    return engine


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite file database of this test's own."""
    engine = make_engine(sqlite_url(tmp_path))
    upgrade_database(engine)
    yield engine
    engine.dispose()


def sql_engine(request: pytest.FixtureRequest, name: str) -> Engine:
    """The engine fixture for backend ``name`` ("sqlite" or "postgres")."""
    engine = request.getfixturevalue("pg_engine" if name == "postgres" else "sqlite_engine")
    assert isinstance(engine, Engine)
    return engine


@attrs.define
class Backend:
    """One storage backend as the contract tests see it."""

    name: str
    uow: Callable[[], UnitOfWork]
    idempotency: IdempotencyStore
    #: Events handed to the after-commit handler, in order.
    published: list[DomainEvent]
    engine: Engine | None = None

    @property
    def is_sql(self) -> bool:
        """SQLite or PostgreSQL."""
        return self.engine is not None


@pytest.fixture(params=ALL_BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """The memory adapter, SQLite and PostgreSQL, in turn."""
    name: str = request.param
    ids = SequentialIds()
    published: list[DomainEvent] = []

    def handler(events: Sequence[DomainEvent]) -> None:
        published.extend(events)

    if name == "memory":
        store = MemoryStore()
        return Backend(name, lambda: MemoryUnitOfWork(store, ids, [handler]), MemoryIdempotencyStore(), published, None)
    engine = sql_engine(request, name)
    return Backend(name, lambda: SqlUnitOfWork(engine, ids, [handler]), SqlIdempotencyStore(engine), published, engine)


def sql_app(
    engine: Engine,
    *,
    clock: Clock,
    ids: IdGenerator,
    gateway: PaymentGateway | None = None,
    settings: Settings | None = None,
) -> App:
    """The core wired to the SQL unit of work, with in-memory documents and the sandbox gateway.

    Built here rather than with ``bootstrap`` so that these tests exercise persistence only
    (``test_bootstrap.py`` runs the real composition root as well)."""
    settings = settings or Settings(jwt_secret="sql-test-secret-" + "x" * 32)
    closers: list[Callable[[], None]] = []
    if gateway is None:
        sandbox = SandboxGateway(clock)
        closers.append(sandbox.close)
        gateway = sandbox
    ctx = Context(
        uow=lambda: SqlUnitOfWork(engine, ids),
        clock=clock,
        ids=ids,
        gateway=gateway,
        documents=MemoryDocumentStore(),
        renderer=PlainTextAgreementRenderer(),
        signer=BuiltinSigner(settings.public_url),
        signed_copies=PlainSignedCopyMaker(),
        policy=policy_from(settings),
    )
    return App(
        settings=settings,
        ctx=ctx,
        idempotency=SqlIdempotencyStore(engine),
        jwt_secret=settings.jwt_secret,
        tokens=token_service(settings, settings.jwt_secret),
        check_database=lambda: check_connection(engine),
        processed_gateway_events=SqlProcessedEvents(engine),
        closers=closers,
    )


@pytest.fixture(params=SQL_BACKENDS)
def sql_backend_engine(request: pytest.FixtureRequest) -> Engine:
    """A migrated, empty SQLite or PostgreSQL database."""
    return sql_engine(request, request.param)


@pytest.fixture
def app_on_sql(sql_backend_engine: Engine, clock: FixedClock) -> Iterator[App]:
    """The whole core on SQLite or PostgreSQL, with the demo data loaded."""
    app = sql_app(sql_backend_engine, clock=clock, ids=SequentialIds())
    load_demo(app.ctx.uow)
    yield app
    app.close()
