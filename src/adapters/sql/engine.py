"""Engines for SQLite (the embedded default) and PostgreSQL (psycopg 3).

SQLite: WAL journal (readers never block the writer), a 30 s busy timeout, foreign keys on,
and every transaction opened with ``BEGIN IMMEDIATE``. The last point is what makes concurrent
writers *queue* instead of failing: with SQLite's default deferred BEGIN, a transaction that
reads and then writes tries to upgrade its lock mid-way, and if another writer committed in the
meantime SQLite answers "database is locked" at once, without waiting for the busy timeout.
Taking the write lock up front makes the busy timeout apply to the whole transaction.

PostgreSQL: a bounded pool and READ COMMITTED, the isolation our conditional updates, row locks
and ``SKIP LOCKED`` queries are written for. No pre-ping: it cost a ``SELECT 1`` round trip on
every checkout from the pool. Connections are recycled before typical idle cut-offs instead, and
a connection found dead anyway (a server restart, a proxy) fails the first statement of a
transaction, which the unit of work (and the idempotency claim) sends once more on a new
connection (:func:`is_disconnect`): nothing had been written on the dead one. psycopg's cache of
converted statements is widened to our statements' size (:func:`_cache_our_statements`)."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from adapters.system.files import create_private_file

log = logging.getLogger("checkout.sql")

#: How long a SQLite writer waits for the write lock before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000

#: Execution option that lets a connection open a deferred (read-only) SQLite transaction
#: instead of ``BEGIN IMMEDIATE``; used by health checks so they never wait behind writers.
SQLITE_READ_ONLY = "checkout_sqlite_read_only"

#: Execution option for reads sent outside any transaction (each statement is its own, as in
#: PostgreSQL's autocommit): no BEGIN is sent at all. A unit of work reading for a GET sets it
#: and clears it before its first write.
SQLITE_NO_BEGIN = "checkout_sqlite_no_begin"

#: psycopg turns a statement's ``%(name)s`` placeholders into ``$n`` by parsing its text, and
#: caches the result only for statements of at most 50 parameters and 4 KiB (psycopg 3.3's
#: ``MAX_CACHED_STATEMENT_PARAMS`` / ``_LENGTH``: an ORM's ad-hoc multi-row INSERTs would flood
#: the cache). Ours are built once per shape (adapters.sql.statements), and a checkout's combined
#: writes carry 34–53 parameters: past 50 — the order's, once its car's move joined it — the
#: text was parsed again at every call, 0.3–0.5 ms of an order's CPU.
PSYCOPG_CACHED_PARAMETERS = 256
PSYCOPG_CACHED_LENGTH = 16_384

#: The isolation of PostgreSQL transactions (see the module docstring).
POSTGRES_ISOLATION = "READ COMMITTED"


class BeginFailed(exc.OperationalError):
    """SQLite could not begin a transaction (typically: the write lock stayed taken for longer
    than the busy timeout). The connection it happened on never started a transaction, so it
    must not run anything else: the unit of work abandons it."""


def is_disconnect(error: BaseException) -> bool:
    """Whether ``error`` says the connection is dead (SQLAlchemy has invalidated it, and the
    pool's other connections from before it with it): a new connection may succeed."""
    return isinstance(error, exc.DBAPIError) and error.connection_invalidated


def normalize_url(url: str) -> URL:
    """The SQLAlchemy URL for ``url``; bare ``postgresql://`` / ``postgres://`` use psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str, *, pool_size: int | None = None, max_overflow: int | None = None) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://…``), configured as
    the module docstring explains. ``pool_size`` / ``max_overflow`` override the defaults."""
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, pool_size=pool_size, max_overflow=max_overflow)
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise ValueError(f"PostgreSQL URLs must use psycopg 3 (postgresql+psycopg://), got {parsed.drivername}")
        _cache_our_statements()
        engine = create_engine(
            parsed,
            **_json_codec(),
            pool_size=10 if pool_size is None else pool_size,
            max_overflow=20 if max_overflow is None else max_overflow,
            pool_timeout=30,
            # Recycle before typical server / load-balancer idle cut-offs (no pre-ping: see above).
            pool_recycle=1800,
            isolation_level=POSTGRES_ISOLATION,
            connect_args={"connect_timeout": 10, "application_name": "checkout"},
        )
        event.listen(engine, "checkin", _end_autocommit)
        return engine
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:/// or postgresql+psycopg://")


def outside_transactions(connection: Connection) -> None:
    """Put a PostgreSQL connection in autocommit at the driver (each statement its own
    transaction) until it goes back to the pool, where :func:`_end_autocommit` ends it.

    SQLAlchemy's ``isolation_level="AUTOCOMMIT"`` does the same through its connection
    characteristics, which set and reset the driver's isolation and roll back around it: ~30 µs
    of CPU a unit of work, a twentieth of an order's read. SQLAlchemy does not know of this
    switch, so its ``begin``/``rollback`` stay bookkeeping (psycopg sends nothing for them in
    autocommit), and :func:`in_transactions` switches back before a transaction's first
    statement."""
    driver = connection.connection.driver_connection
    if driver is not None and not driver.autocommit:
        driver.autocommit = True


def in_transactions(connection: Connection) -> None:
    """End :func:`outside_transactions`: the next statement begins a transaction."""
    driver = connection.connection.driver_connection
    if driver is not None and driver.autocommit:
        driver.autocommit = False


def is_outside_transactions(connection: Connection) -> bool:
    """Whether each statement on ``connection`` is its own transaction (no BEGIN is sent):
    :func:`outside_transactions` on PostgreSQL, :data:`SQLITE_NO_BEGIN` on SQLite."""
    if connection.dialect.name != "postgresql":
        return bool(connection.get_execution_options().get(SQLITE_NO_BEGIN))
    return bool(getattr(connection.connection.driver_connection, "autocommit", False))


def _end_autocommit(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Whoever returns the connection (a unit of work, a request's parked claim, an error path),
    # the next one to take it from the pool gets transactions again: a connection left in
    # autocommit would make every later use case's writes commit one by one.
    if dbapi_connection is not None and getattr(dbapi_connection, "autocommit", False):
        try:
            dbapi_connection.autocommit = False
        except Exception:  # a connection the driver knows is broken: the pool replaces it
            log.warning("a pooled connection could not leave autocommit; it is discarded")
            _record.invalidate()


def _cache_our_statements() -> None:
    """Raise psycopg's limits on the statements it caches to :data:`PSYCOPG_CACHED_PARAMETERS`
    and :data:`PSYCOPG_CACHED_LENGTH` (never lower them). Module settings of psycopg's, read at
    each call; a psycopg without them caches differently and is left alone."""
    from psycopg import _queries

    for name, ours in (
        ("MAX_CACHED_STATEMENT_PARAMS", PSYCOPG_CACHED_PARAMETERS),
        ("MAX_CACHED_STATEMENT_LENGTH", PSYCOPG_CACHED_LENGTH),
    ):
        theirs = getattr(_queries, name, None)
        if isinstance(theirs, int) and theirs < ours:
            setattr(_queries, name, ours)


def _json_codec() -> dict[str, Any]:
    """msgspec's JSON decoder and encoder for the JSONB columns psycopg reads and writes, where
    it is installed (it comes with the HTTP server's Litestar).

    Decoding: 3–4× json.loads on our documents, about 5 % of an order read's CPU. It gives the
    same values for everything PostgreSQL can hold in our columns (ints of any size, floats,
    strings); a number past a float's range, which json.loads would turn into ``inf``, is
    refused instead — none of ours can be one.

    Encoding: 7–8× json.dumps on the outbox payloads and an order's documents (an order writes
    a dozen). JSONB keeps the value, not the text, so its compact UTF-8 output is stored exactly
    as json.dumps's was (tests/sql/test_direct_reads.py). It also encodes what json.dumps
    refuses (a Decimal, a datetime: as strings); our mapping hands it only JSON's own types."""
    try:
        import msgspec
    except ImportError:
        return {}
    return {"json_deserializer": msgspec.json.decode, "json_serializer": msgspec.json.encode}


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _create_private(url: URL) -> None:
    """A new database file is created 0600 (its -wal and -shm files inherit the mode): it holds
    customers' names, addresses and orders. ``file:`` URIs are left to SQLite."""
    if url.database and not url.query.get("uri"):
        # On an error (e.g. no such directory) connecting reports it, in SQLite's own words.
        with contextlib.suppress(OSError):
            create_private_file(Path(url.database))


def _sqlite_engine(url: URL, *, pool_size: int | None, max_overflow: int | None) -> Engine:
    memory = _is_memory(url)
    options: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    if memory:
        # One shared connection, or every checkout would see its own empty database.
        options["poolclass"] = StaticPool
        options["connect_args"]["check_same_thread"] = False
    else:
        _create_private(url)
        options["pool_size"] = 5 if pool_size is None else pool_size
        options["max_overflow"] = 20 if max_overflow is None else max_overflow
        options["pool_timeout"] = 60
    engine = create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # Take transaction control away from the sqlite3 module (it would emit a deferred
        # BEGIN only before DML); the "begin" hook below emits our own BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS:d}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not memory:
                cursor.execute("PRAGMA journal_mode = WAL")
                # NORMAL is durable across application crashes in WAL mode; only an OS crash
                # or power loss can lose the last commits, never corrupt the file.
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(SQLITE_NO_BEGIN):
            return
        statement = "BEGIN" if connection.get_execution_options().get(SQLITE_READ_ONLY) else "BEGIN IMMEDIATE"
        driver_connection = connection.connection.driver_connection
        assert isinstance(driver_connection, sqlite3.Connection)
        # Sent on the driver connection directly: BEGIN is transaction control, not a query,
        # so it stays out of statement events (as PostgreSQL's implicit BEGIN does).
        try:
            driver_connection.execute(statement)
        except sqlite3.Error as error:
            raise BeginFailed(statement, None, error) from error

    return engine
