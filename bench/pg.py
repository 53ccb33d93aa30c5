"""Private PostgreSQL databases for the benchmarks: ``bench_<uuid>``, created and dropped here.

The server is ``CHECKOUT_BENCH_DATABASE_URL`` (else ``CHECKOUT_TEST_DATABASE_URL``, else
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``); its own database is only used to
issue ``CREATE DATABASE`` / ``DROP DATABASE``. Other people run tests on the same server, so a
benchmark never writes into a database with a fixed name."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

DEFAULT_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server cannot be reached."""


def server_url() -> URL:
    """The benchmark server's SQLAlchemy URL (psycopg 3 driver)."""
    raw = os.environ.get("CHECKOUT_BENCH_DATABASE_URL") or os.environ.get("CHECKOUT_TEST_DATABASE_URL")
    return make_url(raw or DEFAULT_SERVER_URL).set(drivername="postgresql+psycopg")


def libpq(url: str | URL) -> str:
    """A libpq connection string for a SQLAlchemy URL."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(libpq(server_url()), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        where = server_url().render_as_string(hide_password=True)
        raise PostgresUnavailable(f"cannot connect to {where}: {str(error).strip()}") from None


def server_version() -> str | None:
    """``PostgreSQL 15.20 …`` or None when unreachable."""
    try:
        with _admin() as admin:
            row = admin.execute("SELECT version()").fetchone()
    except PostgresUnavailable:
        return None
    return None if row is None else str(row[0]).split(" on ")[0]


@contextmanager
def fresh_database(prefix: str = "bench") -> Iterator[str]:
    """Create ``<prefix>_<uuid>``, yield its SQLAlchemy URL, drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex}"
    with _admin() as admin:
        for attempt in range(20):
            try:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                break
            except psycopg.errors.ObjectInUse:
                # template1 is busy while someone else creates a database: wait our turn.
                time.sleep(0.1 * (attempt + 1))
        else:
            raise RuntimeError("could not create a benchmark database: template1 stays busy")
    try:
        yield server_url().set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
