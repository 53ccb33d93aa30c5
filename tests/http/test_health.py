"""Probes, and the uvicorn factory."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.auth.jwt_tokens import JwtTokens
from checkout_core.usecases.context import Role
from entrypoints.bootstrap import App
from entrypoints.http.app import create_app
from entrypoints.http.asgi import create_from_env

Client = TestClient[Litestar]


def test_health_and_ready(client: Client) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok"}}


def test_not_ready_without_the_database(core: App, caplog: pytest.LogCaptureFixture) -> None:
    def down() -> None:
        raise ConnectionError("could not connect to postgresql://checkout:s3cret@db:5432/checkout")

    core.check_database = down
    with caplog.at_level(logging.WARNING), TestClient(create_app(core)) as client:
        response = client.get("/ready")
        assert client.get("/health").status_code == 200  # liveness does not touch the database

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "service_unavailable"
    assert "s3cret" not in response.text
    assert "s3cret" not in caplog.text


def test_the_uvicorn_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHECKOUT_DATABASE_URL", "CHECKOUT_JWT_SECRET", "CHECKOUT_PAYMENT_GATEWAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHECKOUT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CHECKOUT_DEMO", "1")

    asgi = create_from_env()

    token = JwtTokens((tmp_path / "jwt-secret").read_text().strip()).issue(
        "cus_demo", Role.CUSTOMER, now=datetime.now(UTC)
    )
    with TestClient(asgi) as client:
        assert client.get("/ready").json()["checks"] == {"database": "ok", "schema": "ok"}
        reserved = client.post(  # the demo car is there
            "/api/v1/reservations",
            json={"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_visa"}},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "factory-test"},
        )
        assert reserved.status_code == 201, reserved.text
