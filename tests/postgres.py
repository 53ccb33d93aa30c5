"""A fresh, private PostgreSQL database per test (or per module) on the test server.

The server is ``CHECKOUT_TEST_DATABASE_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); that URL's database is only used to
connect and issue ``CREATE DATABASE test_<uuid>`` / ``DROP DATABASE``. Tests run in parallel by
several people, so no test ever writes into a database with a fixed name.

When the server cannot be reached the test is *skipped* with the reason, except under
``CI=true``, where a missing PostgreSQL is a failure: CI must never pass by skipping.

Usage, as a context manager (any scope you like)::

    from tests.postgres import postgres_database

    @pytest.fixture(scope="module")
    def pg_url() -> Iterator[str]:
        with postgres_database() as url:
            yield url

or the ready-made function-scoped fixture, registered in a conftest with
``from tests.postgres import postgres_url  # noqa: F401`` (a fresh database for every test).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url

DEFAULT_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def server_url() -> URL:
    """The test server's SQLAlchemy URL (psycopg 3 driver)."""
    url = make_url(os.environ.get("CHECKOUT_TEST_DATABASE_URL") or DEFAULT_SERVER_URL)
    return url.set(drivername="postgresql+psycopg")


def _libpq(url: URL) -> str:
    """A libpq connection string for ``url`` (psycopg does not take SQLAlchemy driver names)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip the current test with ``reason`` (or fail it under CI=true)."""
    message = f"PostgreSQL is not available: {reason} (set CHECKOUT_TEST_DATABASE_URL to run these tests)"
    if _in_ci():
        pytest.fail(message + " — CI=true, so this is a failure, not a skip", pytrace=False)
    pytest.skip(message)


def _admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection to the server (CREATE/DROP DATABASE cannot run in a transaction)."""
    url = server_url()
    try:
        return psycopg.connect(_libpq(url), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        unavailable(f"cannot connect to {url.render_as_string(hide_password=True)}: {str(error).strip()}")


@contextmanager
def postgres_database(prefix: str = "test") -> Iterator[str]:
    """Create ``<prefix>_<uuid>`` on the test server, yield its SQLAlchemy URL, drop it after.

    Skips (or fails under CI) when the server is unreachable."""
    name = f"{prefix}_{uuid.uuid4().hex}"
    with _admin_connection() as admin:
        for attempt in range(10):
            try:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                break
            except psycopg.errors.ObjectInUse:
                # CREATE DATABASE copies template1 and refuses while another session (a
                # colleague's test run creating its own database) is connected to it.
                time.sleep(0.1 * (attempt + 1))
        else:
            raise RuntimeError("could not create a test database: template1 stays busy")
    try:
        yield server_url().set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin_connection() as admin:
            # FORCE: a test that failed may have left connections open (PostgreSQL ≥ 13).
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (not migrated): its SQLAlchemy URL."""
    with postgres_database() as url:
        yield url
