"""The CLI on the embedded default (a SQLite file in a temporary CHECKOUT_DATA_DIR): ``db upgrade``
in-process, and the real ``checkout`` console script in subprocesses."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.auth.jwt_tokens import JwtTokens
from checkout_core.usecases.context import Actor, Role
from entrypoints.bootstrap import bootstrap
from entrypoints.cli.app_factory import CliState
from entrypoints.cli.main import cli
from entrypoints.settings import load_settings
from tests.cli.conftest import out_json


def _sql_adapter_missing() -> str | None:
    try:
        from adapters.sql.migrations import current_revision, upgrade_database  # noqa: F401
        from adapters.sql.unit_of_work import SqlUnitOfWork  # noqa: F401
    except ImportError as error:
        return str(error)
    return None


_MISSING = _sql_adapter_missing()
pytestmark = pytest.mark.skipif(
    _MISSING is not None, reason=f"the SQL adapter (adapters.sql) is not importable yet: {_MISSING}"
)

CHECKOUT = Path(sys.executable).parent / "checkout"


@pytest.fixture
def data_env(tmp_path: Path) -> dict[str, str]:
    """A CHECKOUT_* environment with nothing set but a fresh data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHECKOUT_", "STRIPE_", "DROPBOX_SIGN_"))}
    env["CHECKOUT_DATA_DIR"] = str(tmp_path / "data")
    return env


def checkout(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed console script, as an advisor would."""
    return subprocess.run([str(CHECKOUT), *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_db_upgrade_is_idempotent(data_env: dict[str, str]) -> None:
    state = CliState(load_settings=lambda: load_settings(data_env))
    first = out_json(CliRunner().invoke(cli, ["db", "upgrade", "--json"], obj=state))
    assert first["database"].startswith("sqlite:///")
    assert first["to"]
    assert first["changed"] is True
    again = out_json(
        CliRunner().invoke(cli, ["db", "upgrade", "--json"], obj=CliState(load_settings=state.load_settings))
    )
    assert again == {**first, "from": first["to"], "changed": False}


@pytest.mark.slow
def test_console_script_demo_vehicles_token(data_env: dict[str, str]) -> None:
    loaded = checkout(data_env, "demo", "load", "--json")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["vehiclesAdded"] == 25

    listed = checkout(data_env, "vehicles", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    cars = json.loads(listed.stdout)
    assert len(cars) == 25
    assert {"id": "veh_abc123", "price": 2499900, "status": "available"}.items() <= cars[0].items()
    crv = next(c for c in cars if c["id"] == "veh_demo008")  # through the migrated SQLite column
    assert [d["kind"] for d in crv["disclosures"]] == ["daily_rental", "accident_damage"]

    issued = checkout(data_env, "tokens", "issue", "--customer", "cus_demo")
    assert issued.returncode == 0, issued.stderr
    # A server started with the same settings builds its App the same way and verifies with its secret.
    app = bootstrap(load_settings(data_env))
    try:
        assert JwtTokens(app.jwt_secret).verify(issued.stdout.strip()) == Actor("cus_demo", Role.CUSTOMER)
    finally:
        app.close()

    unknown = checkout(data_env, "orders", "show", "ord_nope")
    assert unknown.returncode == 3
    assert "not found" in unknown.stderr


@pytest.fixture
def worker(data_env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """``checkout reservations expire --loop`` running as a worker process."""
    assert checkout(data_env, "db", "upgrade").returncode == 0
    process = subprocess.Popen(
        [str(CHECKOUT), "reservations", "expire", "--loop", "--interval", "0.2", "--json"],
        env=data_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_expire_worker_stops_cleanly_on_sigterm(worker: subprocess.Popen[str]) -> None:
    assert worker.stdout is not None
    first_pass = json.loads(worker.stdout.readline())  # blocks until the worker finished one pass
    assert first_pass["expired"] == 0
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    assert "received SIGTERM" in stderr


def _http_status(url: str, token: str) -> int | None:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310  # local http only
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310  # local http only
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None  # not listening yet


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("entrypoints.http.asgi") is None, reason="the HTTP entrypoint is not installed yet"
)
def test_serve_accepts_the_tokens_the_cli_issues(data_env: dict[str, str]) -> None:
    with socket.socket() as probe:  # a free port (released just before the server takes it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(CHECKOUT), "serve", "--demo", "--port", str(port)],
        env=data_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v1/orders/ord_nope"
        deadline = time.monotonic() + 60
        status = None
        # The server first: issued while it still migrated the fresh data directory, the CLI
        # could fail on the database it was creating (seen once under CI's load: an empty token).
        while status is None and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.3)
            status = _http_status(url, "not-a-token")
        assert status == 401, status
        issued = checkout(data_env, "tokens", "issue", "--customer", "cus_demo")
        assert issued.returncode == 0, issued.stderr
        token = issued.stdout.strip()
        status = _http_status(url, token)
        assert status == 404, status  # authenticated (a bad token is 401), the order does not exist
        assert _http_status(url, "not-a-token") == 401
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
        # uvicorn shuts down gracefully, then re-raises the signal so supervisors see why it ended.
        assert server.returncode in (0, -signal.SIGTERM), stderr
        assert "Application shutdown complete" in stderr
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
