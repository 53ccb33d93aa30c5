"""The outbox relay against a real NATS JetStream server (127.0.0.1:4222)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import nats
import pytest

from adapters.messaging.nats_publisher import NatsJetStreamPublisher
from checkout_core.ports.repositories import StoredEvent
from checkout_core.usecases.context import Actor
from checkout_core.usecases.event_relay import relay_all, relay_outbox
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import App

NATS_URL = os.environ.get("CHECKOUT_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _nats_up() -> bool:
    host, port = NATS_URL.removeprefix("nats://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def stream() -> Iterator[tuple[str, str]]:
    """A fresh stream and subject prefix for one test, deleted afterwards."""
    if not _nats_up():
        if os.environ.get("CI") == "true":
            pytest.fail(f"NATS is not reachable at {NATS_URL} (required under CI=true)")
        pytest.skip(f"NATS is not reachable at {NATS_URL}")
    suffix = uuid.uuid4().hex[:10]
    yield f"TEST_{suffix}", f"test.{suffix}"

    async def delete() -> None:
        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().delete_stream(f"TEST_{suffix}")
        finally:
            await nc.drain()

    asyncio.run(delete())


def _read_all(stream_name: str, prefix: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        import json

        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        info = await js.stream_info(stream_name)
        out: list[dict[str, Any]] = []
        for seq in range(1, info.state.last_seq + 1):
            msg = await js.get_msg(stream_name, seq)
            out.append({"subject": msg.subject, "id": msg.headers["Nats-Msg-Id"], "body": json.loads(msg.data)})
        await nc.drain()
        return out

    return asyncio.run(read())


def _make_events(app: App, customers: int) -> None:
    for n in range(customers):
        vehicle = f"veh_demo{n + 1:03d}"
        reserve_vehicle(app.ctx, Actor(f"cus_{n}"), vehicle_id=vehicle, payment_token="tok_visa")


def test_relay_publishes_every_event_once_with_its_id(memory_app: App, stream: tuple[str, str]) -> None:
    _make_events(memory_app, 3)  # 3 events each
    publisher = NatsJetStreamPublisher(NATS_URL, stream=stream[0], subject_prefix=stream[1])
    try:
        assert relay_all(memory_app.ctx, publisher, batch_size=4) == 9
        assert relay_all(memory_app.ctx, publisher) == 0
    finally:
        publisher.close()
    messages = _read_all(*stream)
    assert len(messages) == 9
    assert len({m["id"] for m in messages}) == 9
    assert messages[0]["subject"] == f"{stream[1]}.VehicleReservationInitiated"
    assert messages[0]["body"]["id"] == messages[0]["id"]


class _DiesMidBatch:
    """Publishes ``survive`` events of a batch for real, then 'crashes'."""

    def __init__(self, real: NatsJetStreamPublisher, survive: int) -> None:
        self.real = real
        self.survive = survive

    def publish(self, events: Sequence[StoredEvent]) -> None:
        self.real.publish(events[: self.survive])
        raise ConnectionError("relay killed mid-batch")


def test_a_relay_killed_mid_batch_loses_nothing(memory_app: App, stream: tuple[str, str]) -> None:
    _make_events(memory_app, 2)  # 6 events
    publisher = NatsJetStreamPublisher(NATS_URL, stream=stream[0], subject_prefix=stream[1])
    try:
        with pytest.raises(ConnectionError):
            relay_outbox(memory_app.ctx, _DiesMidBatch(publisher, survive=2), batch_size=6)
        with memory_app.ctx.uow() as uow:
            assert len(uow.outbox.claim_unpublished(100)) == 6  # nothing was marked published
        assert relay_all(memory_app.ctx, publisher) == 6  # the restart publishes the whole batch again
    finally:
        publisher.close()
    messages = _read_all(*stream)
    # JetStream drops the two re-sent messages by Nats-Msg-Id: each event is stored exactly once.
    assert sorted(m["id"] for m in messages) == sorted({m["id"] for m in messages})
    assert len(messages) == 6
