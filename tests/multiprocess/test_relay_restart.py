"""``checkout events relay --loop`` killed with SIGKILL in the middle of a batch, then started
again, loses no event: every outbox event id reaches the JetStream stream, and the outbox ends
fully marked published.

This is the real command in a real process against PostgreSQL and the NATS server at
127.0.0.1:4222, on a fresh database and a fresh stream (``CHECKOUT_NATS_STREAM`` /
``CHECKOUT_NATS_SUBJECT_PREFIX``) per test. "Mid-batch" is not left to luck: the kill is sent
once a batch has been committed and the stream already holds messages the outbox has not marked
yet, and the test then checks that it found exactly that state (stored in the stream, not marked
in the database) — the case at-least-once delivery exists for."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from bench.servers import ManagedProcess, checkout_env, checkout_job
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from adapters.sql import tables
from adapters.sql.engine import make_engine
from adapters.sql.migrations import upgrade_database
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.ids import RandomIds
from checkout_core.demo import load_demo
from checkout_core.ports.repositories import StoredEvent
from checkout_core.usecases.context import Actor
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import bootstrap
from entrypoints.cli.app_factory import CliState
from entrypoints.cli.main import cli
from entrypoints.settings import load_settings
from tests.postgres import postgres_database

pytestmark = [pytest.mark.timeout(170)]

NATS_URL = os.environ.get("CHECKOUT_TEST_NATS_URL", "nats://127.0.0.1:4222")
EVENTS = 4000
BATCH = 200
CARD = "tok_visa"  # Stripe's test Visa, known to the sandbox gateway


def _nats_up() -> bool:
    host, port = NATS_URL.removeprefix("nats://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


class StreamProbe:
    """Reads a JetStream stream from the test (its own connection and event loop)."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self._loop = asyncio.new_event_loop()
        self._nc: Any = self._loop.run_until_complete(nats.connect(NATS_URL))
        self._js = self._nc.jetstream()

    def count(self) -> int:
        """Messages stored (0 while the relay has not created the stream yet)."""

        async def info() -> int:
            try:
                return int((await self._js.stream_info(self.stream)).state.messages)
            except nats.js.errors.NotFoundError:
                return 0

        return self._loop.run_until_complete(info())

    def message_ids(self) -> list[str]:
        """The ``Nats-Msg-Id`` of every stored message, in stream order."""

        async def read() -> list[str]:
            last = (await self._js.stream_info(self.stream)).state.last_seq
            messages = [await self._js.get_msg(self.stream, seq) for seq in range(1, last + 1)]
            return [(message.headers or {}).get("Nats-Msg-Id", "") for message in messages]

        return self._loop.run_until_complete(read())

    def delete_and_close(self) -> None:
        """Remove the test's stream and disconnect."""

        async def done() -> None:
            with contextlib.suppress(nats.js.errors.NotFoundError):  # the relay never created it
                await self._js.delete_stream(self.stream)
            await self._nc.drain()

        self._loop.run_until_complete(done())
        self._loop.close()


@pytest.fixture
def stream() -> Iterator[StreamProbe]:
    """A fresh stream name (the relay creates the stream); deleted afterwards."""
    if not _nats_up():
        if os.environ.get("CI") == "true":
            pytest.fail(f"NATS is not reachable at {NATS_URL} (required under CI=true)")
        pytest.skip(f"NATS is not reachable at {NATS_URL}")
    probe = StreamProbe(f"TEST_RELAY_{uuid.uuid4().hex[:10]}")
    yield probe
    probe.delete_and_close()


@pytest.fixture
def database() -> Iterator[tuple[str, Engine]]:
    """A fresh, migrated PostgreSQL database: (url, engine)."""
    with postgres_database() as url:
        engine = make_engine(url)
        try:
            upgrade_database(engine)
            yield url, engine
        finally:
            engine.dispose()


def _store_events(engine: Engine, count: int) -> list[str]:
    """``count`` events in the outbox, written through the SQL unit of work (500 per commit)."""
    ids = RandomIds()
    event_ids: list[str] = []
    at = datetime(2025, 12, 23, 10, 30, tzinfo=UTC)
    for start in range(0, count, 500):
        with SqlUnitOfWork(engine, ids) as uow:
            for n in range(start, min(count, start + 500)):
                event = StoredEvent(
                    id=f"evt_relay{n:06d}",
                    aggregate_id=f"res_relay{n // 3:06d}",
                    name="ReservationExpired",
                    payload={"reservationId": f"res_relay{n // 3:06d}", "sequence": n},
                    occurred_at=at + timedelta(milliseconds=n),
                )
                uow.outbox.add(event)
                event_ids.append(event.id)
            uow.commit()
    return event_ids


def _published(engine: Engine) -> int:
    o = tables.outbox
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).where(o.c.published_at.is_not(None))).scalar_one())


def _relay(name: str, env: dict[str, str], logs: Path) -> ManagedProcess:
    args = ["events", "relay", "--loop", "--interval", "0.2", "--batch-size", str(BATCH), "--json"]
    return checkout_job(name, args, env, logs).launch()


@pytest.mark.slow
@pytest.mark.postgres
def test_a_relay_killed_mid_batch_and_restarted_loses_nothing(
    tmp_path: Path, database: tuple[str, Engine], stream: StreamProbe
) -> None:
    url, engine = database
    event_ids = _store_events(engine, EVENTS)
    env = checkout_env(
        database_url=url,
        data_dir=tmp_path / "data",
        jwt_secret="relay-test-secret-" + "x" * 32,
        extra={
            "CHECKOUT_NATS_URL": NATS_URL,
            "CHECKOUT_NATS_STREAM": stream.stream,
            "CHECKOUT_NATS_SUBJECT_PREFIX": f"test.relay.{stream.stream.lower()}",
        },
    )

    # 1. Run the relay and SIGKILL it while a batch is half-way: at least one batch committed,
    #    and more messages in the stream than rows marked published.
    first = _relay("relay-1", env, tmp_path)
    deadline = time.monotonic() + 90
    try:
        while True:
            assert time.monotonic() < deadline, f"the relay made no progress:\n{first.log_tail()}"
            assert first.process is not None
            assert first.process.poll() is None, first.log_tail()
            marked = _published(engine)  # read first: a batch commits only after its messages
            stored = stream.count()
            if BATCH <= marked < EVENTS - BATCH and stored > marked:
                break
            time.sleep(0.002)
    finally:
        status = first.stop(sig=signal.SIGKILL)
    assert status == -signal.SIGKILL

    marked_at_kill, stored_at_kill = _published(engine), stream.count()
    assert marked_at_kill < EVENTS, "the relay finished before it was killed"
    assert stored_at_kill > marked_at_kill, (
        f"not killed mid-batch: {stored_at_kill} stored, {marked_at_kill} marked published"
    )

    # 2. Start it again: it republishes the unmarked batch (JetStream drops the repeats by
    #    Nats-Msg-Id) and carries on to the end.
    second = _relay("relay-2", env, tmp_path)
    try:
        deadline = time.monotonic() + 90
        while _published(engine) < EVENTS:
            assert time.monotonic() < deadline, f"the restarted relay did not finish:\n{second.log_tail()}"
            assert second.process is not None
            assert second.process.poll() is None, second.log_tail()
            time.sleep(0.1)
    finally:
        status = second.stop()
    assert status == 0, second.log_tail()

    # 3. Every event id reached the stream, each stored once; the outbox is fully marked.
    stored_ids = stream.message_ids()
    assert set(stored_ids) == set(event_ids)
    assert len(stored_ids) == EVENTS, "JetStream stored a re-sent event twice (Nats-Msg-Id de-duplication)"
    with SqlUnitOfWork(engine, RandomIds()) as uow:
        assert list(uow.outbox.claim_unpublished(10)) == []
    assert _published(engine) == EVENTS
    print(
        f"\nkilled with {marked_at_kill} marked / {stored_at_kill} stored; "
        f"{stored_at_kill - marked_at_kill} event(s) re-sent after the restart and dropped by JetStream"
    )


def test_an_unreachable_broker_is_exit_5_and_leaves_the_outbox_unpublished(tmp_path: Path) -> None:
    """One pass against a broker that is not there: exit code 5 (outside service unavailable),
    nothing marked published, so the next run publishes everything."""
    env = {"CHECKOUT_DATA_DIR": str(tmp_path), "CHECKOUT_NATS_URL": "nats://127.0.0.1:9"}  # discard port
    app = bootstrap(load_settings(env))
    try:
        load_demo(app.ctx.uow)
        reserve_vehicle(app.ctx, Actor("cus_1"), vehicle_id="veh_demo001", payment_token=CARD)
    finally:
        app.close()
    result = CliRunner().invoke(
        cli, ["events", "relay", "--stream", "NEVER_CREATED"], obj=CliState(load_settings=lambda: load_settings(env))
    )
    assert result.exit_code == 5, result.output
    assert "broker_unavailable" in result.output
    app = bootstrap(load_settings(env))
    try:
        with app.ctx.uow() as uow:
            assert len(uow.outbox.claim_unpublished(100)) == 3  # initiated, deposit paid, confirmed
    finally:
        app.close()


def test_bad_stream_names_are_refused_before_anything_runs() -> None:

    for bad in (["--stream", "has.dot"], ["--stream", ""], ["--subject-prefix", "a.*"], ["--subject-prefix", "a..b"]):
        result = CliRunner().invoke(cli, ["events", "relay", *bad])
        assert result.exit_code == 2, (bad, result.output)
