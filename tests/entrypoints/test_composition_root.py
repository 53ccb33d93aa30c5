"""HTTP and the CLI reach tokens, webhook parsing, migrations and the relay's broker through
ports that only ``entrypoints.bootstrap`` fills with adapters (import-linter enforces the rule)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.sql.migrations import head_revision
from checkout_core.ports.gateway_events import GatewayEventRejected
from checkout_core.ports.tokens import InvalidToken
from checkout_core.usecases.context import Actor, Role
from entrypoints.bootstrap import bootstrap_in_memory, event_publisher, open_migrations
from entrypoints.settings import Settings

SECRET = "composition-root-secret-" + "c" * 16


def test_app_tokens_issue_and_verify_through_the_port() -> None:
    app = bootstrap_in_memory(settings=Settings(jwt_secret=SECRET))
    token = app.tokens.issue("cus_demo", Role.CUSTOMER, now=datetime.now(UTC))
    assert app.tokens.verify(token) == Actor("cus_demo", Role.CUSTOMER)
    with pytest.raises(InvalidToken):
        app.tokens.verify(token + "x")


def test_gateway_events_only_with_a_webhook_secret() -> None:
    assert bootstrap_in_memory(settings=Settings(jwt_secret=SECRET)).gateway_events is None
    events = bootstrap_in_memory(settings=Settings(jwt_secret=SECRET, stripe_webhook_secret="whsec_x")).gateway_events
    assert events is not None
    assert "whsec_x" not in repr(events)
    with pytest.raises(GatewayEventRejected):
        events.parse(b'{"id": "evt_1", "object": "event"}', "t=1,v1=bad")


def test_open_migrations_brings_an_empty_database_to_the_newest_revision(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=SECRET)
    with open_migrations(settings) as migrations:
        assert migrations.current_revision() is None
        migrations.upgrade()
        migrations.upgrade()  # idempotent
        assert migrations.current_revision() == head_revision()


def test_event_publisher_comes_with_its_closer() -> None:
    publisher, close = event_publisher(
        Settings(jwt_secret=SECRET, nats_url="nats://127.0.0.1:1"), stream="S", subject_prefix="p"
    )
    assert callable(publisher.publish)
    close()  # never connected: nothing to drain
