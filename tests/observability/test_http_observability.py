"""Operators' view of the HTTP API: request ids, metrics (validated by promtool), the version,
readiness checks, operationIds and structured logs."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import TestClient

from adapters.auth.jwt_tokens import JwtTokens
from adapters.system.clock import FixedClock
from checkout_core.demo import load_demo
from checkout_core.usecases.context import Role
from entrypoints.bootstrap import App, bootstrap
from entrypoints.cli.main import cli
from entrypoints.http.app import OPERATION_IDS, create_app
from entrypoints.observability.logs import JsonFormatter
from entrypoints.observability.version import commit, version
from entrypoints.settings import Settings

Client = TestClient[Litestar]
RESERVE = {"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_visa"}}
PROMTOOL = shutil.which("promtool")


def promtool_check(exposition: str) -> None:
    """``promtool check metrics`` accepts the scrape (lint problems included)."""
    assert PROMTOOL, "promtool is installed by .ci/run (Debian's prometheus package)"
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=exposition, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent)."""
    for line in exposition.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        metric, _, value = line.rpartition(" ")
        head, _, label_text = metric.partition("{")
        if head != name:
            continue
        found = dict(part.split("=", 1) for part in label_text.rstrip("}").split(",") if part)
        if all(found.get(k, "").strip('"') == v for k, v in labels.items()):
            return float(value)
    return 0.0


@pytest.fixture
def customer(core: App) -> dict[str, str]:
    token = JwtTokens(core.jwt_secret).issue("cus_demo", Role.CUSTOMER, now=datetime.now(UTC))
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def core(memory_app: App) -> App:
    return memory_app


@pytest.fixture
def client(core: App) -> Iterator[Client]:
    with TestClient(create_app(core), raise_server_exceptions=False) as test_client:
        yield test_client


def test_the_request_id_is_taken_or_made_and_echoed(client: Client) -> None:
    given = client.get("/health", headers={"X-Request-ID": "abc-123.def"})
    made = client.get("/health")
    forged = client.get("/health", headers={"X-Request-ID": "bad id\nwith newline"})

    assert given.headers["x-request-id"] == "abc-123.def"
    assert len(made.headers["x-request-id"]) == 32
    assert forged.headers["x-request-id"] != "bad id\nwith newline"
    assert made.headers["x-request-id"] != forged.headers["x-request-id"]


def test_problems_carry_the_request_id(client: Client) -> None:
    unauthorized = client.get("/api/v1/orders", headers={"X-Request-ID": "req-401"})
    missing = client.get("/no/such/path", headers={"X-Request-ID": "req-404"})

    assert unauthorized.json()["requestId"] == "req-401"
    assert unauthorized.headers["x-request-id"] == "req-401"
    assert missing.status_code == 404
    assert missing.json()["requestId"] == "req-404"


def test_a_reservation_moves_the_counters_and_promtool_accepts_the_scrape(
    client: Client, customer: dict[str, str]
) -> None:
    before = client.get("/metrics").text
    reserved = client.post("/api/v1/reservations", json=RESERVE, headers={**customer, "Idempotency-Key": "m-1"})
    card = client.post(  # the card guard refuses a card number
        "/api/v1/reservations",
        json={**RESERVE, "paymentMethod": {"type": "card", "token": "4242424242424242"}},
        headers={**customer, "Idempotency-Key": "m-2"},
    )
    after = client.get("/metrics")

    assert reserved.status_code == 201, reserved.text
    assert card.status_code == 400
    assert after.status_code == 200
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    promtool_check(text)

    def moved(name: str, **labels: str) -> float:
        return sample(text, name, **labels) - sample(before, name, **labels)

    assert moved("checkout_business_events_total", kind="reservations", outcome="created") == 1
    route = {"route": "/api/v1/reservations", "method": "POST"}
    assert moved("checkout_http_requests_total", status="201", **route) == 1
    assert moved("checkout_http_request_duration_seconds_count", **route) == 2
    assert moved("checkout_refusals_total", reason="card_guard") == 1
    assert moved("checkout_http_problems_total", status="400", code="card_data_not_accepted") == 1


def test_metrics_require_the_token_when_one_is_set(memory_app: App) -> None:
    import attrs

    memory_app.settings = attrs.evolve(memory_app.settings, metrics_token="s3cret-metrics-token")
    with TestClient(create_app(memory_app)) as client:
        refused = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        allowed = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})

    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert wrong.status_code == 401
    assert allowed.status_code == 200
    assert "checkout_http_requests_total" in allowed.text


def test_version_endpoint_cli_and_openapi_agree(client: Client) -> None:
    answer = client.get("/version").json()
    info = client.get("/schema/openapi.json").json()["info"]
    printed = CliRunner().invoke(cli, ["--version"])

    assert answer == {"version": version(), "commit": commit(), "schemaRevision": None}
    assert len(commit()) == 40  # a checkout: the git commit
    assert info["version"] == version()
    assert printed.exit_code == 0
    assert version() in printed.output and commit() in printed.output


def test_operation_ids_read_as_method_names(client: Client) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    ids = [op["operationId"] for item in paths.values() for op in item.values() if isinstance(op, dict)]

    assert len(ids) == len(set(ids))
    assert set(ids) <= set(OPERATION_IDS.values()), set(ids) - set(OPERATION_IDS.values())
    assert {"createReservation", "getOrder", "cancelOrder", "createOrder"} <= set(ids)


def test_the_access_log_is_one_json_line_with_ids_and_no_card_numbers(
    client: Client, customer: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="checkout"):
        client.post(
            "/api/v1/reservations",
            json=RESERVE,
            headers={**customer, "X-Request-ID": "log-1", "Idempotency-Key": "l-1"},
        )
        logging.getLogger("checkout.test").warning("card 4111 1111 1111 1111 seen")

    formatter = JsonFormatter()
    access = [r for r in caplog.records if r.name == "checkout.access"]
    line = json.loads(formatter.format(access[-1]))
    card_line = formatter.format(next(r for r in caplog.records if r.name == "checkout.test"))

    assert line["route"] == "/api/v1/reservations"
    assert line["status"] == 201
    assert line["method"] == "POST"
    assert line["actorId"] == "cus_demo"
    assert line["durationMs"] > 0
    assert line["requestId"] == "log-1"
    assert line["level"] == "INFO"
    assert "4111 1111 1111 1111" not in card_line
    assert json.loads(card_line)["logger"] == "checkout.test"


# -- on the embedded SQLite database --------------------------------------------------------


@pytest.fixture
def sqlite_app(tmp_path: Path, clock: FixedClock) -> Iterator[App]:
    app = bootstrap(Settings(data_dir=tmp_path), clock=clock)
    yield app
    app.close()


def test_ready_names_its_checks_and_version_has_the_schema(sqlite_app: App, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO), TestClient(create_app(sqlite_app)) as client:
        ready = client.get("/ready")
        answer = client.get("/version").json()

    assert not [r for r in caplog.records if r.name.startswith("alembic")]  # a probe is no migration

    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "schema": "ok"}
    assert answer["schemaRevision"] == sqlite_app.schema_revisions()[1]  # type: ignore[misc]  # set on SQL


def test_not_ready_when_the_schema_is_behind(sqlite_app: App) -> None:
    head = sqlite_app.schema_revisions()[1]  # type: ignore[misc]  # set on SQL
    sqlite_app.schema_revisions = lambda: ("0001", head)
    with TestClient(create_app(sqlite_app)) as client:
        ready = client.get("/ready")

    assert ready.status_code == 503
    assert ready.json()["checks"]["schema"] == f"schema at 0001, code expects {head}"
    assert ready.json()["checks"]["database"] == "ok"


def test_backlog_gauges_read_from_the_database(sqlite_app: App, clock: FixedClock) -> None:
    load_demo(sqlite_app.ctx.uow)
    token = JwtTokens(sqlite_app.jwt_secret).issue("cus_demo", Role.CUSTOMER, now=datetime.now(UTC))
    with TestClient(create_app(sqlite_app)) as client:
        client.post(
            "/api/v1/reservations",
            json=RESERVE,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "g-1"},
        )
        clock.advance(timedelta(hours=80))  # past the hold; no sweeper ran
        text = client.get("/metrics").text

    promtool_check(text)
    assert sample(text, "checkout_backlog_read_ok") == 1
    assert sample(text, "checkout_reservations_overdue_for_expiry") == 1
    assert sample(text, "checkout_outbox_unpublished") >= 3  # initiated, deposit paid, confirmed
    assert sample(text, "checkout_outbox_oldest_unpublished_age_seconds") >= 80 * 3600
    assert sample(text, "checkout_refunds_last_24h", status="failed") == 0  # listed at zero, never absent


def test_an_empty_database_has_no_schema_revision(tmp_path: Path) -> None:
    from adapters.sql.engine import make_engine
    from adapters.sql.schema_revision import schema_revision

    engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        assert schema_revision(engine) is None
    finally:
        engine.dispose()
