"""The card guard's cheap pre-check never hides a card number, and every copy of a kept
header is scanned."""

from __future__ import annotations

import asyncio
import json
import random
from typing import cast

import pytest
from litestar import Litestar
from litestar.types import Message, Scope

from entrypoints.http.card_guard import contains_card_number, mask_card_numbers, scan_envelope
from entrypoints.redaction import _card_spans


def _exact(text: str) -> bool:
    return next(_card_spans(text), None) is not None


def test_the_pre_check_agrees_with_the_exact_scan() -> None:
    # Digit-heavy random text with the separators the scan knows, and some it does not.
    rng = random.Random(20251223)
    alphabet = "0123456789" * 6 + "  --./:ab"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(20_000)]
    texts += ["4242424242424242", "4242 4242 4242 4242", "3782 822463 10005", "x4242-4242-4242-4242y"]
    found = 0

    for text in texts:
        exact = _exact(text)
        found += exact
        assert contains_card_number(text) is exact, text
        if not exact:
            assert mask_card_numbers(text) == text
    assert found > 100  # the sample does exercise the slow path


def _scope(headers: list[tuple[bytes, bytes]]) -> Scope:
    return cast("Scope", {"type": "http", "path": "/api/v1/orders", "query_string": b"", "headers": headers})


@pytest.mark.parametrize(
    "headers",
    [
        [(b"user-agent", b"Mozilla 4242 4242 4242 4242")],
        [(b"User-Agent", b"Mozilla 4242 4242 4242 4242")],
        [(b"user-agent", b"Mozilla 4242 4242 4242 4242"), (b"user-agent", b"Mozilla/5.0")],
        [(b"user-agent", b"Mozilla/5.0"), (b"user-agent", b"Mozilla 4242 4242 4242 4242")],
    ],
)
def test_every_user_agent_header_is_scanned(headers: list[tuple[bytes, bytes]]) -> None:
    assert scan_envelope(_scope(headers)) == "User-Agent"


def test_other_headers_are_not_scanned() -> None:
    headers = [(b"cookie", b"t=4242424242424242"), (b"user-agent", b"Mozilla/5.0")]

    assert scan_envelope(_scope(headers)) is None


async def _call(app: Litestar, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """One GET straight through the ASGI app, headers exactly as given (a test client would
    merge repeated ones)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/orders",
        "raw_path": b"/api/v1/orders",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(cast("Scope", scope), receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_a_card_in_any_user_agent_header_is_refused(asgi: Litestar, customer: dict[str, str]) -> None:
    # Handlers keep the first User-Agent; a card number in any copy is refused all the same.
    authorization = (b"authorization", customer["Authorization"].encode())
    card, browser = (b"user-agent", b"Mozilla 4242 4242 4242 4242"), (b"user-agent", b"Mozilla/5.0")

    for headers in ([authorization, card, browser], [authorization, browser, card]):
        status, body = asyncio.run(_call(asgi, headers))
        assert status == 400, body
        problem = json.loads(body)
        assert (problem["code"], problem["field"]) == ("card_data_not_accepted", "User-Agent")
    assert asyncio.run(_call(asgi, [authorization, browser, browser]))[0] == 200
