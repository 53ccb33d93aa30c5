"""Bearer token rules beyond PyJWT's: time claims must be JSON numbers, and a token may not live
longer than ``CHECKOUT_MAX_TOKEN_TTL_HOURS`` (``exp`` − ``iat``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.auth.jwt_tokens import DEFAULT_MAX_TTL, InvalidToken, JwtTokens
from checkout_core.demo import load_demo
from checkout_core.usecases.context import Actor, Role
from entrypoints.bootstrap import App, bootstrap_in_memory
from entrypoints.http.app import create_app
from entrypoints.settings import Settings, SettingsError, load_settings

SECRET = "unit-test-jwt-secret-" + "z" * 20
HOUR = 3600


def _token(secret: str = SECRET, **claims: Any) -> str:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "cus_demo",
        "role": "customer",
        "iss": "checkout",
        "aud": "checkout-api",
        "iat": now - 60,
        "exp": now + HOUR,
    }
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, secret, algorithm="HS256")


def test_the_default_maximum_is_a_day() -> None:
    assert timedelta(hours=24) == DEFAULT_MAX_TTL
    assert Settings().max_token_ttl_hours == 24
    assert load_settings({}).max_token_ttl_hours == 24
    assert load_settings({"CHECKOUT_MAX_TOKEN_TTL_HOURS": "72"}).max_token_ttl_hours == 72
    for bad in ("0", "721", "a day"):
        with pytest.raises(SettingsError, match="CHECKOUT_MAX_TOKEN_TTL_HOURS"):
            load_settings({"CHECKOUT_MAX_TOKEN_TTL_HOURS": bad})


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": str(int(time.time()) + HOUR)},  # PyJWT alone takes this for an integer
        {"exp": f"{int(time.time()) + HOUR}.0"},
        {"exp": True},
        {"exp": [int(time.time()) + HOUR]},
        {"iat": str(int(time.time()) - 60)},
        {"nbf": str(int(time.time()) - 60)},
    ],
    ids=["string exp", "decimal string exp", "boolean exp", "list exp", "string iat", "string nbf"],
)
def test_time_claims_must_be_numbers(claims: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        JwtTokens(SECRET).verify(_token(**claims))


def test_numeric_time_claims_are_fine_integer_or_not() -> None:
    now = time.time()
    tokens = JwtTokens(SECRET)
    assert tokens.verify(_token(iat=now - 60.5, exp=now + HOUR + 0.25, nbf=now - 1)) == Actor("cus_demo")


def test_a_token_living_longer_than_the_maximum_is_refused() -> None:
    now = int(time.time())
    tokens = JwtTokens(SECRET)
    assert tokens.verify(_token(iat=now - 60, exp=now - 60 + 24 * HOUR)) == Actor("cus_demo")  # exactly the maximum
    for iat, exp in (
        (now - 60, now - 60 + 24 * HOUR + 1),  # a second too long
        (now, now + 10 * 365 * 24 * HOUR),  # ten years
        (now - 30 * 24 * HOUR, now + HOUR),  # issued a month ago, "still valid for an hour"
    ):
        with pytest.raises(InvalidToken):
            tokens.verify(_token(iat=iat, exp=exp))
    # A stricter or looser maximum is honoured.
    with pytest.raises(InvalidToken):
        JwtTokens(SECRET, max_ttl=timedelta(minutes=30)).verify(_token(iat=now, exp=now + HOUR))
    long_lived = _token(iat=now, exp=now + 48 * HOUR)
    assert JwtTokens(SECRET, max_ttl=timedelta(hours=48)).verify(long_lived) == Actor("cus_demo")
    # iat is required: without it there is no lifetime to check, and PyJWT refuses the token.
    with pytest.raises(InvalidToken):
        tokens.verify(_token(iat=None))


def test_tokens_above_the_maximum_are_not_issued() -> None:
    now = datetime.now(UTC)
    tokens = JwtTokens(SECRET, max_ttl=timedelta(hours=6))
    assert tokens.verify(tokens.issue("cus_demo", Role.CUSTOMER, now=now, ttl=timedelta(hours=6))) == Actor("cus_demo")
    with pytest.raises(ValueError, match="at most"):
        tokens.issue("cus_demo", Role.CUSTOMER, now=now, ttl=timedelta(hours=6, seconds=1))
    with pytest.raises(ValueError, match="positive"):
        JwtTokens(SECRET, max_ttl=timedelta(0))


@pytest.fixture
def roomy_app() -> Iterator[App]:
    """An app whose tokens may live two days."""
    app = bootstrap_in_memory(settings=Settings(jwt_secret=SECRET, max_token_ttl_hours=48))
    load_demo(app.ctx.uow)
    yield app
    app.close()


def test_the_api_refuses_bad_time_claims_and_long_lifetimes(client: TestClient[Litestar], core: App) -> None:
    now = int(time.time())
    refused = {
        "string exp": _token(core.jwt_secret, exp=str(now + HOUR)),
        "two days": _token(core.jwt_secret, iat=now, exp=now + 48 * HOUR),
        "a year": _token(core.jwt_secret, iat=now, exp=now + 365 * 24 * HOUR),
    }
    for name, token in refused.items():
        response = client.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.json()["code"] == "unauthorized", name
        assert response.headers["www-authenticate"].startswith("Bearer")
    fine = _token(core.jwt_secret, iat=now, exp=now + 24 * HOUR)
    assert client.get("/api/v1/orders", headers={"Authorization": f"Bearer {fine}"}).status_code == 200


def test_the_maximum_is_a_setting(roomy_app: App) -> None:
    now = int(time.time())
    with TestClient(create_app(roomy_app)) as client:
        two_days = _token(iat=now, exp=now + 48 * HOUR)
        assert client.get("/api/v1/orders", headers={"Authorization": f"Bearer {two_days}"}).status_code == 200
        longer = _token(iat=now, exp=now + 48 * HOUR + 1)
        assert client.get("/api/v1/orders", headers={"Authorization": f"Bearer {longer}"}).status_code == 401
