"""Files holding personal or payment data are created readable by their owner only: the embedded
SQLite database with its -wal/-shm files, the sandbox gateway's records, the generated JWT
secret (mode 0600), and the data directory (0700)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.payments.sandbox import SandboxGateway
from adapters.sql.engine import make_engine
from adapters.system.clock import FixedClock
from adapters.system.files import create_private_file
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """A umask that would leave new files world-readable (0644), as on most systems."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_sqlite_database_and_its_wal_files_are_0600(tmp_path: Path) -> None:
    database = tmp_path / "checkout.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (1)"))
        # Open while connections are pooled: the WAL and shared-memory files exist now.
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
        assert all(path.exists() for path in files)
        assert {path.name: oct(_mode(path)) for path in files} == {path.name: "0o600" for path in files}
    finally:
        engine.dispose()


def test_the_sandbox_gateway_file_is_0600(tmp_path: Path, clock: FixedClock) -> None:
    path = tmp_path / "sandbox-gateway.sqlite3"
    gateway = SandboxGateway(clock, path)
    try:
        # The file and its WAL exist as soon as the gateway is open (it creates its tables).
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert all(p.exists() for p in files)
        assert {p.name: oct(_mode(p)) for p in files} == {p.name: "0o600" for p in files}
    finally:
        gateway.close()


def test_the_embedded_installation_is_private(tmp_path: Path, clock: FixedClock) -> None:
    data_dir = tmp_path / "data"
    app = bootstrap(Settings(data_dir=data_dir), clock=clock)
    try:
        assert oct(_mode(data_dir)) == "0o700"
        for name in ("checkout.sqlite3", "sandbox-gateway.sqlite3", "jwt-secret"):
            assert oct(_mode(data_dir / name)) == "0o600", name
        for path in data_dir.iterdir():
            if path.is_file() and path.name.endswith(("-wal", "-shm")):
                assert oct(_mode(path)) == "0o600", path.name
    finally:
        app.close()


def test_existing_files_are_left_alone_and_races_are_harmless(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    path.write_bytes(b"")
    path.chmod(0o640)  # the operator's choice
    create_private_file(path)
    create_private_file(path)
    assert _mode(path) == 0o640
    fresh = tmp_path / "fresh"
    os.umask(0o277)  # even a umask that would take the owner's write bit away
    create_private_file(fresh)
    assert _mode(fresh) == 0o600
