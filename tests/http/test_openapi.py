"""The OpenAPI document, and schemathesis fuzzing every operation against it, in-process:
no 5xx, and every status, content type and body conforms to what the document says."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar import Litestar
from litestar.testing import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from adapters.auth.jwt_tokens import JwtTokens
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.usecases.context import Role
from entrypoints.bootstrap import bootstrap_in_memory
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.conftest import SPEC_NOW
from tests.http.conftest import place_spec_order, reserve

Client = TestClient[Litestar]
ADVISOR_STEPS = ("/verify", "/reject", "/delivery/", "/complete", "/return", "/bank-transfers", "/reconciliation")
WEBHOOKS = "/api/v1/webhooks/"


def test_the_document(client: Client) -> None:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": doc["components"]["securitySchemes"]["BearerToken"]["description"],
    }
    operations = [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]
    assert len(operations) >= 27
    for path, method, op in operations:
        statuses = set(op["responses"])
        assert {"400", "413", "500"} <= statuses, (method, path)
        if path.startswith(WEBHOOKS):
            # Called by providers: their signature is the credential, their event ids the key.
            assert not op.get("security"), path
            assert not any(p["name"] == "Idempotency-Key" for p in op.get("parameters", [])), path
            assert "requestBody" in op, path
            continue
        if path.startswith("/api/"):
            assert op["security"] == [{"BearerToken": []}], (method, path)
            assert "401" in statuses, (method, path)
            if "{" in path:
                assert "404" in statuses, (method, path)
        if method == "post" and path.startswith("/api/"):
            assert any(p["name"] == "Idempotency-Key" for p in op["parameters"]), path
            assert {"409", "422"} <= statuses, path
        if "requestBody" in op and path.startswith("/api/"):
            assert "415" in statuses, (method, path)
        for status, response_doc in op["responses"].items():
            if status[0] in "45" and path.startswith("/api/"):
                assert "application/problem+json" in response_doc["content"], (method, path, status)
    order = doc["components"]["schemas"]["OrderBody"]["properties"]
    for field in ("orderId", "orderNumber", "status", "vehicle", "pricing", "nextSteps", "advisor", "createdAt"):
        assert field in order
    reservation = doc["components"]["schemas"]["ReservationBody"]["properties"]
    for field in ("reservationId", "vehicleId", "status", "depositAmount", "depositCharge", "expiresAt", "createdAt"):
        assert field in reservation


# -- fuzzing ------------------------------------------------------------------------------


class World:
    """An app with the spec's order placed, and tokens for its customer and an advisor."""

    def __init__(self) -> None:
        # A Stripe webhook secret, so fuzzed deliveries meet the signature check (400), not 503.
        settings = Settings(stripe_webhook_secret="whsec_fuzz_" + "f" * 24, jwt_secret="fuzz-jwt-secret-" + "j" * 24)
        self.core = bootstrap_in_memory(clock=FixedClock(SPEC_NOW), ids=SequentialIds(), settings=settings)
        load_demo(self.core.ctx.uow)
        self.asgi = create_app(self.core)
        tokens = JwtTokens(self.core.jwt_secret)
        now = datetime.now(UTC)
        self.customer = {"Authorization": f"Bearer {tokens.issue('cus_demo', Role.CUSTOMER, now=now)}"}
        self.advisor = {"Authorization": f"Bearer {tokens.issue('adv_sarah', Role.ADVISOR, now=now)}"}
        with TestClient(self.asgi) as client:
            self.order = place_spec_order(client, self.customer)
            self.reservation = reserve(client, {"Authorization": self.advisor["Authorization"]}, "veh_demo005")
            link = client.post(f"/api/v1/orders/{self.order['orderId']}/documents/sign", headers=self.customer)
            self.envelope = link.json()["signatureUrl"].rsplit("/", 1)[1]
        self.real_ids = {
            "order_id": self.order["orderId"],
            "reservation_id": self.reservation["reservationId"],
            "document_id": self.order["documents"][0]["id"],
            "envelope_id": self.envelope,
        }


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """One world for all fuzzed operations (they are independent requests)."""
    world = World()
    yield world
    world.core.close()


def _document_source() -> Litestar:
    """A throwaway in-memory app, only to read the OpenAPI document when pytest collects.

    (``schemathesis.pytest.from_fixture`` would load it from the world fixture instead, but it
    touches ``request.node._nodeid``, which pytest 9 no longer has.) Calls go to the world's
    app, which is built from the same code."""
    return create_app(bootstrap_in_memory())


schema = schemathesis.openapi.from_asgi("/schema/openapi.json", _document_source())
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
schema.config.generation.update(with_security_parameters=False)  # our own tokens, not generated ones


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_fuzz_every_operation(case: Any, world: World) -> None:
    # Half of the generated ids (chosen by the id itself, so shrinking stays deterministic) are
    # swapped for real ones, so the fuzzer also reaches the success paths.
    for name, real in world.real_ids.items():
        value = (case.path_parameters or {}).get(name)
        if value is not None and zlib.crc32(str(value).encode()) % 2 == 0:
            case.path_parameters[name] = real
    if case.headers and "Idempotency-Key" in case.headers:
        # One key per distinct request, so retries replay and the handlers behind the key are
        # what gets fuzzed (reuse with another body, 422, has its own tests).
        fingerprint = repr((case.method, case.path, case.path_parameters, case.query, case.body))
        case.headers["Idempotency-Key"] = "fuzz-" + hashlib.sha256(fingerprint.encode()).hexdigest()[:32]
    headers = world.advisor if any(step in case.path for step in ADVISOR_STEPS) else world.customer
    case.call_and_validate(
        app=world.asgi,
        headers=headers,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
