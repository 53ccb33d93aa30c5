"""The outbox relay's publish is a span of the worker pass, and each NATS message carries the
trace context (``traceparent``) so a consumer's spans join the same trace."""

from __future__ import annotations

import asyncio

import nats
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from checkout_core.usecases.context import Actor
from checkout_core.usecases.event_relay import relay_all
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import App, event_publisher
from entrypoints.observability import tracing
from entrypoints.settings import Settings
from tests.messaging.test_nats_relay import NATS_URL
from tests.messaging.test_nats_relay import stream as stream  # the fixture: a fresh stream


def traceparents(stream_name: str) -> list[str]:
    async def read() -> list[str]:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        info = await js.stream_info(stream_name)
        found = [
            (await js.get_msg(stream_name, seq)).headers.get("traceparent", "")
            for seq in range(1, info.state.last_seq + 1)
        ]
        await nc.drain()
        return found

    return asyncio.run(read())


def test_published_messages_carry_the_pass_trace(
    memory_app: App, stream: tuple[str, str], exporter: InMemorySpanExporter
) -> None:
    reserve_vehicle(memory_app.ctx, Actor("cus_1"), vehicle_id="veh_demo001", payment_token="tok_visa")
    publisher, close = event_publisher(Settings(nats_url=NATS_URL), stream=stream[0], subject_prefix=stream[1])
    exporter.clear()
    try:
        with tracing.pass_span("events relay"):
            assert relay_all(memory_app.ctx, publisher) == 3
    finally:
        close()

    spans = {s.name: s for s in exporter.get_finished_spans()}
    root, publish = spans["job events relay"], spans["event_publisher.publish"]
    assert publish.parent is not None and publish.parent.span_id == root.context.span_id
    headers = traceparents(stream[0])
    assert len(headers) == 3
    trace_id = f"{root.context.trace_id:032x}"
    assert all(h.startswith(f"00-{trace_id}-{publish.context.span_id:016x}-") for h in headers), headers
