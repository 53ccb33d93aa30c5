"""One trace per request: the HTTP span, the use case, each SQL statement and each gateway call,
captured with the OpenTelemetry SDK's in-memory exporter on the embedded SQLite database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar.testing import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from adapters.auth.jwt_tokens import JwtTokens
from adapters.system.clock import FixedClock
from checkout_core.demo import load_demo
from checkout_core.usecases.context import Role
from entrypoints.bootstrap import bootstrap
from entrypoints.http.app import create_app
from entrypoints.observability import tracing
from entrypoints.settings import Settings
from tests.http.conftest import order_request


def children(spans: tuple[ReadableSpan, ...], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def descendants(spans: tuple[ReadableSpan, ...], parent: ReadableSpan) -> list[ReadableSpan]:
    found = children(spans, parent)
    for child in list(found):
        found.extend(descendants(spans, child))
    return found


def test_tracing_is_off_without_otel_variables() -> None:
    assert not tracing.enabled_by_environment({})
    assert tracing.enabled_by_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not tracing.enabled_by_environment({"OTEL_TRACES_EXPORTER": "none"})
    assert not tracing.enabled_by_environment({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"})


def test_a_checkout_is_one_trace_per_request(exporter: InMemorySpanExporter, tmp_path: Path, clock: FixedClock) -> None:
    app = bootstrap(Settings(data_dir=tmp_path), clock=clock)
    try:
        load_demo(app.ctx.uow)
        token = JwtTokens(app.jwt_secret).issue("cus_demo", Role.CUSTOMER, now=datetime.now(UTC))
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(app)) as client:
            exporter.clear()
            reserved = client.post(
                "/api/v1/reservations",
                json={"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_visa"}},
                headers={**headers, "Idempotency-Key": "trace-1", "traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"},
            )
            ordered = client.post(
                "/api/v1/orders",
                json=order_request(reserved.json()["reservationId"]),
                headers={**headers, "Idempotency-Key": "trace-2"},
            )
            signing = client.post(
                f"/api/v1/orders/{ordered.json()['orderId']}/documents/sign",
                headers={**headers, "Idempotency-Key": "trace-3"},
            )
    finally:
        app.close()
    assert reserved.status_code == 201, reserved.text
    assert ordered.status_code == 201, ordered.text

    spans = exporter.get_finished_spans()
    assert signing.status_code in (200, 201), signing.text
    servers = [s for s in spans if s.name.startswith("POST /api/v1/")]
    assert [s.name for s in servers] == [
        "POST /api/v1/reservations",
        "POST /api/v1/orders",
        "POST /api/v1/orders/{order_id}/documents/sign",
    ]
    reservation, order, sign = servers
    # The caller's traceparent is continued; the next request is a trace of its own.
    assert f"{reservation.context.trace_id:032x}" == "ab" * 16
    assert order.parent is None and order.context.trace_id != reservation.context.trace_id
    assert all(s.context.trace_id in {t.context.trace_id for t in servers} for s in spans)
    for server, use_case in ((reservation, "usecase create_reservation"), (order, "usecase create_order")):
        assert server.attributes is not None and server.attributes["http.response.status_code"] == 201
        (handler,) = [s for s in children(spans, server) if s.name.startswith("usecase ")]
        assert handler.name == use_case
        inner = descendants(spans, handler)
        assert any(s.attributes and "db.statement" in s.attributes for s in inner), [s.name for s in inner]
    assert "payment_gateway.charge" in [s.name for s in descendants(spans, reservation)]
    assert any(s.name.startswith("signing_provider.") for s in descendants(spans, sign)), [
        s.name for s in descendants(spans, sign)
    ]


def test_the_otel_variables_turn_on_the_otlp_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")  # no collector: nothing is sent
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout-test")
    monkeypatch.setattr(tracing, "_configured", False)
    monkeypatch.setattr(tracing, "_tracer", None)
    try:
        configured = tracing.tracer()
        assert configured is not None
        assert configured.provider.resource.attributes["service.name"] == "checkout-test"
        assert tracing.trace_headers() == {}  # no current span: no traceparent
    finally:
        tracing.uninstall()
        monkeypatch.setattr(tracing, "_configured", False)
