"""Publishes outbox events to NATS JetStream (nats-py), one message per event.

Subject: ``<prefix>.<EventName>``; header ``Nats-Msg-Id`` = event id, so JetStream drops a
repeat inside its duplicate window and consumers can drop later ones by id. Each publish waits
for the stream's acknowledgement, so a batch counts as published only when stored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import nats
from nats.js.errors import NotFoundError

from checkout_core.ports.repositories import StoredEvent


class NatsJetStreamPublisher:
    """A synchronous facade over nats-py for the synchronous relay."""

    def __init__(
        self,
        url: str,
        *,
        stream: str = "CHECKOUT_EVENTS",
        subject_prefix: str = "checkout.events",
        trace_headers: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self._url = url
        #: Headers carrying the current trace context (``traceparent``) into each message, so a
        #: consumer's spans join the trace of the relay pass that published it.
        self._trace_headers = trace_headers
        self._stream = stream
        self._prefix = subject_prefix
        self._loop = asyncio.new_event_loop()
        self._nc: Any = None
        self._js: Any = None

    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    async def _connect(self) -> None:
        if self._nc is not None and self._nc.is_connected:
            return
        self._nc = await nats.connect(self._url, connect_timeout=5, max_reconnect_attempts=3)
        self._js = self._nc.jetstream()
        try:
            await self._js.stream_info(self._stream)
        except NotFoundError:
            await self._js.add_stream(name=self._stream, subjects=[f"{self._prefix}.>"], duplicate_window=120.0)

    async def _publish(self, events: Sequence[StoredEvent], extra: Mapping[str, str]) -> None:
        await self._connect()
        for event in events:
            body = {
                "id": event.id,
                "type": event.name,
                "aggregateId": event.aggregate_id,
                "occurredAt": event.occurred_at.isoformat(),
                "payload": event.payload,
            }
            await self._js.publish(
                f"{self._prefix}.{event.name}",
                json.dumps(body, separators=(",", ":"), default=str).encode(),
                headers={**extra, "Nats-Msg-Id": event.id},
                timeout=10,
            )

    def publish(self, events: Sequence[StoredEvent]) -> None:
        """Publish and wait for every acknowledgement."""
        extra = dict(self._trace_headers()) if self._trace_headers is not None else {}
        self._run(self._publish(events, extra))

    def close(self) -> None:
        """Drain the connection and stop the private event loop."""
        if self._nc is not None:
            self._run(self._nc.drain())
            self._nc = None
        self._loop.close()
