"""Card numbers are refused wherever they appear in a request, before anything stores or logs
them, and never reach a log record; log lines are scrubbed of secrets too."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.auth.jwt_tokens import JwtTokens
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.usecases.context import Role
from entrypoints.bootstrap import App, bootstrap_in_memory
from entrypoints.http.app import create_app
from entrypoints.http.card_guard import (
    RedactingFilter,
    contains_card_number,
    install_log_redaction,
    luhn_valid,
    mask_card_numbers,
    redact,
)
from tests.http.conftest import PDF, new_key, order_request, path_of, reserve
from tests.http.gateways import SpyGateway

Client = TestClient[Litestar]

CARD = "4242 4242 4242 4242"
DIGITS = "4242424242424242"


def _assert_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert DIGITS not in text.replace(" ", "").replace("-", ""), record
    assert DIGITS not in caplog.text.replace(" ", "").replace("-", "")


def _assert_refused(response: Any, field: str | None = None) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "card_data_not_accepted"
    if field is not None:
        assert body["field"] == field
    assert DIGITS not in response.text.replace(" ", "")


@pytest.mark.parametrize(
    "number",
    [
        "4242424242424242",
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        "378282246310005",  # Amex, 15 digits
        "3782 822463 10005",
        "6011111111111117",
        "4000056655665556",
        "card: 4242 4242 4242 4242 exp 12/27",
        "4242 4242 4242 4242 12/27",
        "4242.4242.4242.4242",
        # Inside a longer run of digits: PAN + expiry + CVC run together, padding before or
        # after, with or without separators; a mistyped number whose first 14 digits pass.
        "card 42424242424242421227123",
        "4242424242424242000",
        "00042424242424242",
        "42424242424242424242",
        "4242 4242 4242 4242 1227 123",
        "4242-4242-4242-42421227123",
        "4242.4242.4242.4242.1227.123",
        "4242424242424241",
        "1234 5678 9012 3456",
        "9" * 40,  # more than 32 digits in one stretch: taken as a card without computing
        # URL-encoded, as an access log shows a request line.
        "GET /health?x=4242%204242%204242%204242%201227%20123 HTTP/1.1",
        "/orders?x=4242+4242+4242+4242",
        "4242%2D4242%2D4242%2D4242",
    ],
)
def test_card_numbers_are_recognised(number: str) -> None:
    assert contains_card_number(number)
    masked = mask_card_numbers(number)
    assert "[REDACTED-PAN]" in masked
    assert not contains_card_number(masked)
    # The whole run goes, the digits run on to the number (expiry, CVC) included.
    rest = masked.replace("12/27", "").replace("/27", "").replace("HTTP/1.1", "")
    assert not any(char.isdigit() for char in rest), masked


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424",  # 13 digits failing the Luhn check
        "416-555-1234",
        "416-555-1234 416-555-9876",  # two phone numbers are not a card
        "+1 416 555 1234",
        "416.555.1234",
        "CLT-2025-10001",
        "2025-12-23T11:00:00Z",
        "23.12.2025",
        "123456789012",  # 12 digits
        "0000000000000000",  # no card number starts with 0
        "1766484000.123456",  # one dot is a decimal point, not a separator
        "44e01297-3328-4720-a1b2-c3d4e5f6a7b8",  # a UUID (01297-3328-4720 would pass)
        "1HGCM82633A004352",  # a VIN
        "192.168.100.200",
        "ord_000001",
        "1994224",
    ],
)
def test_other_numbers_are_not_cards(text: str) -> None:
    assert not contains_card_number(text)
    assert mask_card_numbers(text) == text


def test_luhn() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


def test_redaction_masks_secrets() -> None:
    masked = redact(
        "Authorization: Bearer abc.def.ghi token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl "
        "key sk_live_abcdefgh1234 whsec_abcdefgh1234 link /sign/ord_1/env_AbCdEfGhIjKlMnOpQrStUvWx "
        "password=hunter2 card 4242 4242 4242 4242"
    )
    for secret in ("abc.def.ghi", "eyJhbGciOiJIUzI1NiJ9", "abcdefgh1234", "AbCdEfGhIjKl", "hunter2", CARD):
        assert secret not in masked
    assert redact(masked) == masked


def test_every_log_record_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent
    log = logging.getLogger("some.library")
    with caplog.at_level(logging.INFO):
        log.info("charging %s for %d", CARD, 100)
        log.info("card as a number %s", int(DIGITS))
        log.warning("token %s", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")
        log.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/api/v1/orders?card={DIGITS}", "1.1", 400)
        try:
            raise ValueError(f"bad card {CARD}")
        except ValueError:
            log.exception("failed")
    _assert_not_logged(caplog)
    assert "eyJhbGciOiJIUzI1NiJ9" not in caplog.text
    # Formatters that read the arguments themselves (uvicorn's access log) still get five of them.
    assert len(caplog.records[3].args or ()) == 5


def test_the_filter_works_on_a_handler() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "card %s", (CARD,), None)
    assert RedactingFilter().filter(record)
    assert CARD not in record.getMessage()


def test_card_in_a_nested_json_field(
    client: Client, customer: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    reservation = reserve(client, customer)
    body = order_request(reservation["reservationId"])
    body["contactInfo"]["address"]["street"] = f"{CARD} Main St"
    with caplog.at_level(logging.DEBUG):
        response = client.post("/api/v1/orders", json=body, headers={**customer, "Idempotency-Key": new_key()})
        deeper = client.post(
            "/api/v1/orders",
            json={**body, "extra": {"notes": [{"text": "ok"}, {"pan": int(DIGITS)}]}},
            headers={**customer, "Idempotency-Key": new_key()},
        )
    _assert_refused(response, "contactInfo.address.street")
    _assert_refused(deeper)
    _assert_not_logged(caplog)
    assert client.get("/api/v1/orders", headers=customer).json()["items"] == []


def test_card_as_the_payment_token_is_refused_and_nothing_is_kept(
    client: Client, customer: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    key = new_key()
    with caplog.at_level(logging.DEBUG):
        refused = client.post(
            "/api/v1/reservations",
            json={"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": DIGITS}},
            headers={**customer, "Idempotency-Key": key},
        )
    _assert_refused(refused, "paymentMethod.token")
    _assert_not_logged(caplog)
    # Neither the car nor the idempotency key was touched: the same key works for a proper request.
    ok = client.post(
        "/api/v1/reservations",
        json={"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_visa"}},
        headers={**customer, "Idempotency-Key": key},
    )
    assert ok.status_code == 201


def test_card_in_a_form_field(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    oid = placed_order["orderId"]
    with caplog.at_level(logging.DEBUG):
        multipart = client.post(
            f"/api/v1/orders/{oid}/insurance",
            files={"file": ("policy.pdf", PDF, "application/pdf")},
            data={"policyNumber": "4242-4242-4242-4242", "provider": "Intact"},
            headers=customer,
        )
        link = client.post(f"/api/v1/orders/{oid}/documents/sign", headers=customer).json()
        page = path_of(link["signatureUrl"])
        urlencoded = client.post(page, data={"consent": "yes", "typedName": CARD, "csrfToken": page.rsplit("/", 1)[1]})
    _assert_refused(multipart, "policyNumber")
    _assert_refused(urlencoded, "typedName")
    _assert_not_logged(caplog)
    assert client.get(f"/api/v1/orders/{oid}", headers=customer).json()["insurance"] is None


def test_card_in_the_query_string(client: Client, customer: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        plain = client.get(f"/api/v1/orders?note={DIGITS}", headers=customer)
        spaced = client.get("/api/v1/orders?status=4242+4242+4242+4242", headers=customer)
        encoded = client.get("/api/v1/reservations?x=4242%204242%204242%204242", headers=customer)
        public = client.get(f"/health?card={DIGITS}")
    for response in (plain, spaced, encoded, public):
        _assert_refused(response)
    _assert_not_logged(caplog)


@pytest.fixture
def crashing_core(clock: FixedClock) -> Iterator[App]:
    """An app whose gateway crashes with a card number in its message."""
    gateway = SpyGateway(clock)
    gateway.fail_with = RuntimeError(f"upstream echoed the card {CARD}")
    app = bootstrap_in_memory(clock=clock, ids=SequentialIds(), gateway=gateway)
    load_demo(app.ctx.uow)
    yield app
    app.close()


def test_a_crash_log_never_shows_the_number(crashing_core: App, caplog: pytest.LogCaptureFixture) -> None:
    token = JwtTokens(crashing_core.jwt_secret).issue("cus_demo", Role.CUSTOMER, now=datetime.now(UTC))
    with caplog.at_level(logging.DEBUG), TestClient(create_app(crashing_core), raise_server_exceptions=False) as c:
        response = c.post(
            "/api/v1/reservations",
            json={"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_visa"}},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": new_key()},
        )
    assert response.status_code == 500
    assert "upstream" not in response.text
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    assert "RuntimeError" in caplog.text
    _assert_not_logged(caplog)
    assert token not in caplog.text


def test_a_uuid_idempotency_key_is_never_mistaken_for_a_card(client: Any, customer: dict[str, str]) -> None:
    """This UUID holds a Luhn-valid 13-digit run (01297-3328-4720 read with dashes as separators);
    the key is stored as a digest, so it needs no scan and must not be refused."""
    key = "44e01297-3328-4720-a1b2-c3d4e5f6a7b8"
    response = client.post(
        "/api/v1/reservations",
        json={"vehicleId": "veh_demo001", "paymentMethod": {"type": "card", "token": "tok_visa"}},
        headers={**customer, "Idempotency-Key": key},
    )
    assert response.status_code == 201, response.text
