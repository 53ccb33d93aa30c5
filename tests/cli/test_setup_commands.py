"""``demo``, ``tokens``, ``vehicles``, ``serve`` and the group's own behaviour (settings errors,
an unreachable database, ``--as``), in-process against an in-memory App."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

from adapters.auth.jwt_tokens import JwtTokens
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.usecases.context import Actor, Role
from entrypoints.bootstrap import App, bootstrap_in_memory
from entrypoints.cli import serve as serve_module
from entrypoints.cli.app_factory import CliState
from entrypoints.cli.main import cli
from entrypoints.settings import Settings
from tests.cli.conftest import Run, out_json, reserve


def test_demo_load_twice_changes_nothing(clock: FixedClock) -> None:
    app = bootstrap_in_memory(clock=clock, ids=SequentialIds())
    state = CliState.using(app)
    first = out_json(CliRunner().invoke(cli, ["demo", "load", "--json"], obj=state))
    assert first["vehiclesAdded"] == 25
    assert first["vehicleId"] == "veh_abc123"
    assert first["advisorIds"] == ["adv_sarah", "adv_tom"]
    second = CliRunner().invoke(cli, ["demo", "load"], obj=state)
    assert second.exit_code == 0
    assert "0 added, 25 already present" in second.stdout


def test_tokens_issue_prints_a_token_the_api_accepts(run: Run, memory_app: App) -> None:
    result = run("tokens", "issue", "--customer", "cus_demo")
    assert result.exit_code == 0
    token = result.stdout.strip()
    assert JwtTokens(memory_app.jwt_secret).verify(token) == Actor("cus_demo", Role.CUSTOMER)

    data = out_json(
        run("tokens", "issue", "--customer", "adv_sarah", "--role", "advisor", "--ttl-hours", "1", "--json")
    )
    assert JwtTokens(memory_app.jwt_secret).verify(data["token"]) == Actor("adv_sarah", Role.ADVISOR)
    expires = datetime.fromisoformat(data["expiresAt"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)


@pytest.mark.parametrize(
    "args",
    [
        ["--customer", "cus_demo", "--role", "system"],
        ["--customer", "   "],
        ["--customer", "cus_demo", "--ttl-hours", "0"],
        [],
    ],
)
def test_tokens_issue_bad_options(run: Run, args: list[str]) -> None:
    result = run("tokens", "issue", *args)
    assert result.exit_code == 2
    assert result.stdout == ""


def test_vehicles_list(run: Run, memory_app: App) -> None:
    cars = out_json(run("vehicles", "list", "--json"))
    assert len(cars) == 25
    civic = next(c for c in cars if c["id"] == "veh_abc123")
    assert (civic["make"], civic["model"], civic["year"], civic["price"], civic["status"]) == (
        "Honda",
        "Civic",
        2021,
        2499900,
        "available",
    )
    reserve(memory_app)
    reserved = out_json(run("vehicles", "list", "--status", "reserved", "--json"))
    assert [c["id"] for c in reserved] == ["veh_abc123"]
    table = run("vehicles", "list", "--limit", "3")
    assert table.exit_code == 0
    assert table.stdout.splitlines()[0].split() == ["ID", "Vehicle", "Colour", "Odometer", "Price", "Status"]
    assert len(table.stdout.splitlines()) == 2 + 3


def test_vehicles_list_bad_status(run: Run) -> None:
    result = run("vehicles", "list", "--status", "parked")
    assert result.exit_code == 2
    assert "parked" in result.stderr


def test_bad_setting_names_the_variable() -> None:
    result = CliRunner().invoke(cli, ["vehicles", "list"], env={"CHECKOUT_RESERVATION_HOLD_HOURS": "5"})
    assert result.exit_code == 2
    assert "CHECKOUT_RESERVATION_HOLD_HOURS" in result.stderr


def test_unreachable_database_is_exit_5() -> None:
    def build(_settings: Settings, _handlers: Any) -> App:
        raise OperationalError("connect", {}, ConnectionRefusedError("connection refused"))

    state = CliState(load_settings=Settings, build_app=build)
    result = CliRunner().invoke(cli, ["orders", "list"], obj=state)
    assert result.exit_code == 5
    assert "cannot open the database" in result.stderr


def test_acting_advisor_must_be_an_id(run: Run) -> None:
    assert run("--as", "", "orders", "list").exit_code == 2
    assert run("--as", "adv_sarah", "orders", "list").exit_code == 0
    assert run("orders", "list", env={"CHECKOUT_ADVISOR_ID": "adv_tom"}).exit_code == 0


def test_app_is_closed_when_the_command_ends(clock: FixedClock) -> None:
    closed: list[bool] = []
    app = bootstrap_in_memory(clock=clock, ids=SequentialIds())
    app.closers.append(lambda: closed.append(True))
    state = CliState(load_settings=lambda: app.settings, build_app=lambda _s, _h: app)
    assert CliRunner().invoke(cli, ["demo", "load"], obj=state).exit_code == 0
    assert closed == [True]
    # Commands that need no App never build (or close) one.
    assert CliRunner().invoke(cli, ["quote", "--price", "100", "--province", "AB"], obj=state).exit_code == 0
    assert closed == [True]


def test_serve_prepares_then_runs_uvicorn(monkeypatch: pytest.MonkeyPatch, clock: FixedClock) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    arenas: list[str | None] = []
    monkeypatch.setattr(
        "uvicorn.run",
        lambda app, **kwargs: calls.append((app, kwargs)) or arenas.append(os.environ.get("MALLOC_ARENA_MAX")),
    )
    monkeypatch.setenv("MALLOC_ARENA_MAX", "")  # recorded, so that the undo removes what serve sets
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    monkeypatch.setattr(serve_module, "asgi_available", lambda: True)
    monkeypatch.setattr("logging.config.dictConfig", lambda _config: None)  # not this test process's logging
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/tmp/given")  # set: serve keeps it
    app = bootstrap_in_memory(clock=clock, ids=SequentialIds())
    result = CliRunner().invoke(cli, ["serve", "--demo", "--port", "8123", "--workers", "3"], obj=CliState.using(app))
    assert result.exit_code == 0, result.output
    [(factory, kwargs)] = calls
    log_config = kwargs.pop("log_config")
    assert (factory, kwargs) == (
        "entrypoints.http.asgi:create_from_env",
        {
            "factory": True,
            "host": "127.0.0.1",
            "port": 8123,
            "workers": 3,
            "log_level": "info",
            "access_log": False,
            "ws": "none",
        },
    )
    assert arenas == ["2"]  # the workers are spawned with two malloc arenas (entrypoints.http.malloc_arenas)
    assert log_config["loggers"]["uvicorn"]["propagate"] is True  # one format: uvicorn's lines go through ours
    with app.ctx.uow() as uow:
        assert uow.vehicles.get("veh_abc123") is not None  # --demo loaded the data before starting


def test_serve_bad_port(run: Run) -> None:
    assert run("serve", "--port", "70000").exit_code == 2
