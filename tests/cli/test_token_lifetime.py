"""``checkout tokens issue --ttl-hours``: never above CHECKOUT_MAX_TOKEN_TTL_HOURS, which the API
enforces (a longer token would be refused by every server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from click.testing import CliRunner

from adapters.auth.jwt_tokens import JwtTokens
from checkout_core.usecases.context import Actor
from entrypoints.bootstrap import App, bootstrap_in_memory
from entrypoints.cli.app_factory import CliState
from entrypoints.cli.main import cli
from entrypoints.settings import Settings
from tests.cli.conftest import Run, out_json

SECRET = "cli-token-lifetime-secret-" + "q" * 16


def _lifetime(token: str) -> timedelta:
    claims = jwt.decode(token, options={"verify_signature": False})
    return timedelta(seconds=claims["exp"] - claims["iat"])


def test_above_the_maximum_is_a_usage_error(run: Run) -> None:
    result = run("tokens", "issue", "--customer", "cus_demo", "--ttl-hours", "25")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--ttl-hours" in result.stderr
    assert "CHECKOUT_MAX_TOKEN_TTL_HOURS" in result.stderr


def test_the_maximum_itself_is_fine_and_accepted(run: Run, memory_app: App) -> None:
    data = out_json(run("tokens", "issue", "--customer", "cus_demo", "--ttl-hours", "24", "--json"))

    assert _lifetime(data["token"]) == timedelta(hours=24)
    assert JwtTokens(memory_app.jwt_secret).verify(data["token"]) == Actor("cus_demo")
    expires = datetime.fromisoformat(data["expiresAt"])
    assert timedelta(hours=23, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=24)


@pytest.fixture
def strict_app() -> Iterator[App]:
    """Tokens may live at most 6 hours here."""
    app = bootstrap_in_memory(settings=Settings(jwt_secret=SECRET, max_token_ttl_hours=6))
    yield app
    app.close()


def test_the_maximum_follows_the_setting(strict_app: App) -> None:
    state = CliState.using(strict_app)
    default = CliRunner().invoke(cli, ["tokens", "issue", "--customer", "cus_demo", "--json"], obj=state)
    assert default.exit_code == 0, default.output
    assert _lifetime(json.loads(default.stdout)["token"]) == timedelta(hours=6)  # 12 capped to the maximum

    seven = CliRunner().invoke(cli, ["tokens", "issue", "--customer", "cus_demo", "--ttl-hours", "7"], obj=state)
    assert seven.exit_code == 2
    assert seven.stdout == ""
