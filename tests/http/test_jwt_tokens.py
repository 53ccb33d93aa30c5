"""JwtTokens: verification, and the cache of verified tokens behind it (the time window is
checked on every use; nothing that failed verification is ever remembered)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from adapters.auth import hs256, jwt_tokens
from adapters.auth.jwt_tokens import InvalidToken, JwtTokens
from checkout_core.usecases.context import Actor, Role

SECRET = "unit-test-jwt-secret-" + "z" * 20


class SteppingClock:
    """Wall-clock seconds that tests move forward by hand (starts at the real time)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens that reached the full verification (signature and claims), in order."""
    seen: list[str] = []
    real: Callable[..., Any] = hs256.decode

    def spy(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(jwt_tokens.hs256, "decode", spy)
    return seen


def _segments(token: str) -> list[str]:
    return token.split(".")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_verify_names_the_caller(clock: SteppingClock) -> None:
    tokens = JwtTokens(SECRET, now=clock)

    customer = tokens.issue("cus_demo", Role.CUSTOMER, now=clock.datetime())
    advisor = tokens.issue("adv_sarah", Role.ADVISOR, now=clock.datetime())

    assert tokens.verify(customer) == Actor("cus_demo", Role.CUSTOMER)
    assert tokens.verify(advisor) == Actor("adv_sarah", Role.ADVISOR)
    assert tokens.verify(customer) == Actor("cus_demo", Role.CUSTOMER)


def test_a_verified_token_is_not_decoded_again(clock: SteppingClock, decodes: list[str]) -> None:
    tokens = JwtTokens(SECRET, now=clock)
    token = tokens.issue("cus_demo", Role.CUSTOMER, now=clock.datetime())

    for _ in range(5):
        assert tokens.verify(token) == Actor("cus_demo", Role.CUSTOMER)

    assert decodes == [token]


def test_a_cached_token_stops_working_the_moment_it_expires(clock: SteppingClock, decodes: list[str]) -> None:
    tokens = JwtTokens(SECRET, now=clock)
    token = tokens.issue("cus_demo", Role.CUSTOMER, now=clock.datetime(), ttl=timedelta(minutes=5))
    assert tokens.verify(token) == Actor("cus_demo", Role.CUSTOMER)

    clock.now += 5 * 60 - 1
    assert tokens.verify(token) == Actor("cus_demo", Role.CUSTOMER)  # from the cache
    assert decodes == [token]

    clock.now += 1  # exactly ``exp``: expired, as PyJWT has it
    with pytest.raises(InvalidToken):
        tokens.verify(token)
    # Still refused afterwards, whether or not it is still remembered.
    clock.now += 3600
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_a_token_is_not_accepted_before_it_was_issued(clock: SteppingClock) -> None:
    tokens = JwtTokens(SECRET, now=clock)
    token = tokens.issue("cus_demo", Role.CUSTOMER, now=clock.datetime())
    assert tokens.verify(token) == Actor("cus_demo", Role.CUSTOMER)

    clock.now -= 60  # the clock was stepped back
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_not_before_is_honoured_for_cached_tokens(clock: SteppingClock) -> None:
    tokens = JwtTokens(SECRET, now=clock)
    claims = {
        "sub": "cus_demo",
        "role": "customer",
        "iss": "checkout",
        "aud": "checkout-api",
        "iat": int(clock.now) - 60,
        "nbf": int(clock.now) - 30,
        "exp": int(clock.now) + 600,
    }
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    assert tokens.verify(token) == Actor("cus_demo", Role.CUSTOMER)

    clock.now -= 31
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_an_expired_token_is_never_cached(clock: SteppingClock, decodes: list[str]) -> None:
    tokens = JwtTokens(SECRET, now=clock)
    token = tokens.issue("cus_demo", Role.CUSTOMER, now=clock.datetime() - timedelta(days=1))

    for _ in range(3):
        with pytest.raises(InvalidToken):
            tokens.verify(token)

    assert decodes == [token] * 3


def test_tampered_tokens_never_hit_the_cache(clock: SteppingClock, decodes: list[str]) -> None:
    tokens = JwtTokens(SECRET, now=clock)
    token = tokens.issue("cus_demo", Role.CUSTOMER, now=clock.datetime())
    assert tokens.verify(token) == Actor("cus_demo", Role.CUSTOMER)
    header, payload, signature = _segments(token)
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = {
        "signature": f"{header}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}",
        "role": f"{header}.{_b64({**claims, 'role': 'advisor'})}.{signature}",
        "subject": f"{header}.{_b64({**claims, 'sub': 'cus_other'})}.{signature}",
        "other secret": JwtTokens("another-secret-" + "y" * 32).issue("cus_demo", Role.CUSTOMER, now=clock.datetime()),
        "unsigned": jwt.encode(claims, key="", algorithm="none"),
        "trailing junk": token + "x",
    }

    for name, bad in forged.items():
        for _ in range(2):
            with pytest.raises(InvalidToken):
                tokens.verify(bad)
            assert decodes[-1] == bad, name  # reached the full verification, every time
    # The genuine token is still served from the cache.
    decoded = len(decodes)
    assert tokens.verify(token) == Actor("cus_demo", Role.CUSTOMER)
    assert len(decodes) == decoded


def test_the_cache_is_bounded_and_forgets_the_least_recently_used(clock: SteppingClock, decodes: list[str]) -> None:
    tokens = JwtTokens(SECRET, now=clock, cache_size=8)
    issued = [tokens.issue(f"cus_{n:03d}", Role.CUSTOMER, now=clock.datetime()) for n in range(20)]

    for n, token in enumerate(issued):
        assert tokens.verify(token) == Actor(f"cus_{n:03d}", Role.CUSTOMER)
        if n == 10:
            tokens.verify(issued[3])  # used again: fresh in the cache, yet already evicted once

    assert len(tokens._cache) == 8
    decodes.clear()
    for token in issued[-8:]:
        tokens.verify(token)
    assert decodes == []  # the 8 most recent are remembered
    tokens.verify(issued[0])
    assert decodes == [issued[0]]  # the oldest was forgotten, and verifies again


def test_a_zero_sized_cache_remembers_nothing(clock: SteppingClock, decodes: list[str]) -> None:
    tokens = JwtTokens(SECRET, now=clock, cache_size=0)
    token = tokens.issue("cus_demo", Role.CUSTOMER, now=clock.datetime())

    tokens.verify(token)
    tokens.verify(token)

    assert decodes == [token, token]
    with pytest.raises(ValueError, match="cache size"):
        JwtTokens(SECRET, cache_size=-1)


def test_verify_is_safe_from_many_threads(clock: SteppingClock) -> None:
    tokens = JwtTokens(SECRET, now=clock, cache_size=16)
    issued = [(tokens.issue(f"cus_{n:03d}", Role.CUSTOMER, now=clock.datetime()), n) for n in range(40)]
    failures: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for round_ in range(50):
                token, n = issued[(offset + round_) % len(issued)]
                assert tokens.verify(token) == Actor(f"cus_{n:03d}", Role.CUSTOMER)
        except BaseException as error:  # reported below, on the test's thread
            failures.append(error)

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert len(tokens._cache) <= 16
