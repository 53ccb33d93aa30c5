"""Bad input is never a 500: each hostile shape we know of is a 400 problem with a stable code,
stores nothing and logs no error; and random bytes, random nesting and random text sent to every
route, with a customer's and an advisor's token, never get a 5xx (hypothesis)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from adapters.auth.jwt_tokens import JwtTokens
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.usecases.context import Role
from entrypoints.bootstrap import App, bootstrap_in_memory
from entrypoints.http.app import create_app
from entrypoints.http.card_guard import MAX_JSON_DEPTH
from entrypoints.settings import RATE_LIMIT_VARIABLES, Settings
from tests.conftest import SPEC_NOW
from tests.http.conftest import PDF, new_key, path_of, place_spec_order, reserve

Client = TestClient[Litestar]
BOUNDARY = "hostile-boundary"


def _problem(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    if field is not None:
        assert body["field"] == field, body
    return body


def _no_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    assert "Traceback" not in caplog.text


def _multipart(*fields: tuple[bytes, bytes, bytes | None]) -> bytes:
    """A multipart/form-data body from (name, value, filename or None), bytes as given."""
    parts = []
    for name, value, filename in fields:
        disposition = b'form-data; name="' + name + b'"'
        if filename is not None:
            disposition += b'; filename="' + filename + b'"'
        headers = b"Content-Disposition: " + disposition + b"\r\n"
        if filename is not None:
            headers += b"Content-Type: application/pdf\r\n"
        parts.append(b"--" + BOUNDARY.encode() + b"\r\n" + headers + b"\r\n" + value + b"\r\n")
    return b"".join(parts) + b"--" + BOUNDARY.encode() + b"--\r\n"


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
JSON = {"Content-Type": "application/json"}


# -- each known shape ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1000 + b"]" * 1000,  # 2 KB, 1,000 levels: the decoder's RecursionError
        b'{"a":' * 1200 + b"1" + b"}" * 1200,
        b"[" * 5000,  # unclosed as well
        b'{"reason":' + b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1) + b"}",  # past our limit
    ],
    ids=["arrays", "objects", "unclosed", "past-the-limit"],
)
def test_deeply_nested_json_is_a_400(
    client: Client,
    customer: dict[str, str],
    placed_order: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    body: bytes,
) -> None:
    oid = placed_order["orderId"]
    with caplog.at_level(logging.DEBUG):
        response = client.post(f"/api/v1/orders/{oid}/cancel", content=body, headers={**customer, **JSON})
        created = client.post("/api/v1/orders", content=body, headers={**customer, **JSON, "Idempotency-Key": "k1"})
    _problem(response, 400, "validation_error")
    _problem(created, 400, "validation_error")
    assert client.get(f"/api/v1/orders/{oid}", headers=customer).json()["status"] == "pending_documents"
    _no_error_logged(caplog)


def test_nesting_up_to_the_limit_is_read(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any]
) -> None:
    inner = b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1)
    response = client.post(
        f"/api/v1/orders/{placed_order['orderId']}/cancel",
        content=b'{"reason": "changed my mind", "extra": ' + inner + b"}",
        headers={**customer, **JSON},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "body",
    [b'{"reason": "caf\xe9"}', b'{"reason": "\xff\xfe"}', b'{"re\xc3ason": 1}', b'{"reason": "\xed\xa0\x80"}'],
    ids=["latin-1", "garbage", "in-a-key", "surrogate"],
)
def test_invalid_utf8_in_a_json_body_is_a_400(
    client: Client,
    customer: dict[str, str],
    placed_order: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    body: bytes,
) -> None:
    oid = placed_order["orderId"]
    with caplog.at_level(logging.DEBUG):
        response = client.post(f"/api/v1/orders/{oid}/cancel", content=body, headers={**customer, **JSON})
    _problem(response, 400, "validation_error")
    assert client.get(f"/api/v1/orders/{oid}", headers=customer).json()["status"] == "pending_documents"
    _no_error_logged(caplog)


def test_invalid_utf8_in_a_multipart_field_is_a_400(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    oid = placed_order["orderId"]
    with caplog.at_level(logging.DEBUG):
        upload = client.post(
            f"/api/v1/orders/{oid}/insurance",
            content=_multipart(
                (b"policyNumber", b"POL-\xff\xfe", None), (b"provider", b"Intact", None), (b"file", PDF, b"p.pdf")
            ),
            headers={**customer, **MULTIPART},
        )
        page = client.post(
            f"/sign/{oid}/env_whatever",
            content=_multipart((b"typedName", b"John \xc3", None), (b"consent", b"yes", None)),
            headers=MULTIPART,
        )
        callback = client.post(
            "/api/v1/webhooks/signing", content=_multipart((b"json", b"{\xff}", None)), headers=MULTIPART
        )
    _problem(upload, 400, "validation_error", "(form)")
    _problem(page, 400, "validation_error", "(form)")
    assert callback.status_code == 400, callback.text  # the provider's form is its own: refused as a webhook
    assert client.get(f"/api/v1/orders/{oid}", headers=customer).json()["insurance"] is None
    _no_error_logged(caplog)


def test_nul_characters_are_a_400(
    client: Client, customer: dict[str, str], placed_order: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL text cannot hold NUL: on it, each of these was a 500 (psycopg's DataError)."""
    oid = placed_order["orderId"]
    with caplog.at_level(logging.DEBUG):
        in_path = client.get("/api/v1/orders/ord%00x", headers=customer)
        in_json = client.post(
            f"/api/v1/orders/{oid}/cancel", content=b'{"reason": "a\\u0000b"}', headers={**customer, **JSON}
        )
        in_key = client.post(
            "/api/v1/reservations",
            content=b'{"vehicleId": "veh_abc123", "x\\u0000": 1}',
            headers={**customer, **JSON, "Idempotency-Key": new_key()},
        )
        in_form = client.post(
            f"/api/v1/orders/{oid}/insurance",
            files={"file": ("p.pdf", PDF, "application/pdf")},
            data={"policyNumber": "POL\x001", "provider": "Intact"},
            headers=customer,
        )
    _problem(in_path, 400, "validation_error", "(path)")
    _problem(in_json, 400, "validation_error", "reason")
    _problem(in_key, 400, "validation_error", "(body)")
    _problem(in_form, 400, "validation_error", "policyNumber")
    order = client.get(f"/api/v1/orders/{oid}", headers=customer).json()
    assert (order["status"], order["insurance"]) == ("pending_documents", None)
    _no_error_logged(caplog)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=2025-12-01&until=9999-12-31", "until"),
        ("since=0001-01-01&until=2025-12-31", "since"),
        ("since=9999-12-31&until=9999-12-31", "since"),
    ],
)
def test_reconciliation_out_of_range_is_a_400(
    client: Client, advisor: dict[str, str], caplog: pytest.LogCaptureFixture, query: str, field: str
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = client.get(f"/api/v1/payments/reconciliation?{query}", headers=advisor)
    body = _problem(response, 400, "validation_error", field)
    assert "out of range" in body["detail"]
    _no_error_logged(caplog)


def test_the_widest_period_still_reconciles(client: Client, advisor: dict[str, str]) -> None:
    response = client.get("/api/v1/payments/reconciliation?since=1970-01-01&until=9998-12-31", headers=advisor)
    assert response.status_code == 200, response.text


# -- random input to every route -----------------------------------------------------------


class World:
    """The demo world with the spec's order placed, a reservation, an open signing link, and
    tokens for its customer and an advisor. Shared by the examples: they are independent
    requests, and whatever state they leave must not turn the next one into a 5xx either."""

    def __init__(self) -> None:
        # A Stripe webhook secret, so random deliveries meet the signature check (400), not 503;
        # rate limits off, so the requests reach the handlers rather than a 429.
        settings = Settings(
            stripe_webhook_secret="whsec_hostile_" + "h" * 24,
            jwt_secret="hostile-jwt-secret-" + "j" * 24,
            rate_limits=tuple((name, 0, 60) for name in RATE_LIMIT_VARIABLES.values()),
        )
        self.core: App = bootstrap_in_memory(clock=FixedClock(SPEC_NOW), ids=SequentialIds(), settings=settings)
        load_demo(self.core.ctx.uow)
        self.asgi = create_app(self.core)
        tokens = JwtTokens(self.core.jwt_secret)
        now = datetime.now(UTC)
        self.roles = {
            "customer": {"Authorization": f"Bearer {tokens.issue('cus_demo', Role.CUSTOMER, now=now)}"},
            "advisor": {"Authorization": f"Bearer {tokens.issue('adv_sarah', Role.ADVISOR, now=now)}"},
        }
        self.client = TestClient(self.asgi, raise_server_exceptions=False)
        self.client.__enter__()
        order = place_spec_order(self.client, self.roles["customer"])
        reservation = reserve(self.client, self.roles["customer"], "veh_demo005")
        link = self.client.post(f"/api/v1/orders/{order['orderId']}/documents/sign", headers=self.roles["customer"])
        self.ids = {
            "order_id": order["orderId"],
            "reservation_id": reservation["reservationId"],
            "document_id": order["documents"][0]["id"],
            "envelope_id": path_of(link.json()["signatureUrl"]).rsplit("/", 1)[1],
            "page": "1",  # a page image of the agreement on the signing page
            "path": "openapi.json",
        }
        self.routes = sorted(
            (route.path_format, method)
            for route in self.asgi.routes
            if isinstance(route, HTTPRoute)
            for method in route.methods
        )

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.core.close()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    world = World()
    yield world
    world.close()


def test_every_route_is_fuzzed(world: World) -> None:
    paths = {path for path, _ in world.routes}
    assert len(world.routes) >= 50
    for path in ("/api/v1/orders/{order_id}/cancel", "/api/v1/webhooks/signing", "/sign/{order_id}/{envelope_id}"):
        assert path in paths


# Text of every kind: any code point (surrogates too), control characters, NUL, long digit runs.
_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
_DIGITS = st.text("0123456789 -.", min_size=13, max_size=40)
_TEXT = st.one_of(_ANY_TEXT, _DIGITS, st.sampled_from(["", "0", "-1", "9999-12-31", "0001-01-01", "tok_visa", "\x00"]))
_JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=12,
)
_QUERY_NAMES = st.sampled_from(["since", "until", "status", "limit", "offset", "x"]) | _ANY_TEXT
_QUERY_VALUES = st.dates().map(str) | _TEXT | st.integers().map(str)
_CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        f"multipart/form-data; boundary={BOUNDARY}",
        "multipart/form-data",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/problem+json",
        None,
    ]
) | _ANY_TEXT.filter(lambda t: t.isprintable() and t.isascii())
_FIELD_NAMES = st.sampled_from([b"file", b"json", b"policyNumber", b"provider", b"typedName", b"consent", b"csrfToken"])


def _text_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # surrogates become invalid UTF-8


def _nested(depth: int, shape: str) -> bytes:
    if shape == "arrays":
        return b"[" * depth + b"]" * depth
    if shape == "objects":
        return b'{"a":' * depth + b"null" + b"}" * depth
    if shape == "mixed":
        return b'[{"x":' * depth + b"[]" + b"}]" * depth
    return b"[" * depth  # unclosed


_BODIES = {
    "bytes": st.binary(max_size=600),
    "nesting": st.builds(_nested, st.integers(1, 3000), st.sampled_from(["arrays", "objects", "mixed", "unclosed"])),
    "unicode": st.one_of(
        _JSON_VALUE.map(lambda v: _text_bytes(json.dumps(v))),
        st.builds(lambda v: _text_bytes(json.dumps(v, ensure_ascii=False)), _JSON_VALUE),
        _ANY_TEXT.map(_text_bytes),
        st.lists(st.tuples(_FIELD_NAMES | _ANY_TEXT.map(_text_bytes), _ANY_TEXT.map(_text_bytes)), max_size=4).map(
            lambda fields: _multipart(*((name.replace(b'"', b""), value, None) for name, value in fields))
        ),
        st.dictionaries(_ANY_TEXT, _ANY_TEXT, max_size=4).map(
            lambda d: urlencode(
                {k.encode("utf-8", "surrogatepass"): v.encode("utf-8", "surrogatepass") for k, v in d.items()}
            ).encode()
        ),
    ),
}


def _send(world: World, data: st.DataObject, kind: str) -> list[tuple[str, str, str, int]]:
    """One drawn body, query, path ids and content type, sent to every route with each token."""
    body = data.draw(_BODIES[kind], label="body")
    content_type = data.draw(_CONTENT_TYPES, label="content type")
    query = data.draw(st.lists(st.tuples(_QUERY_NAMES, _QUERY_VALUES), max_size=3), label="query")
    real_ids = data.draw(st.booleans(), label="real ids")
    key = data.draw(st.sampled_from([None, str(uuid.uuid4())]) | _ANY_TEXT.filter(str.isascii), label="key")
    ids = dict(world.ids) if real_ids else {name: data.draw(_ANY_TEXT, label=name) for name in world.ids}
    answers = []
    for path_format, method in world.routes:
        path = path_format.format(**{name: quote(value, safe="") for name, value in ids.items()})
        url = path + ("?" + urlencode(query) if query else "")
        for role, token in world.roles.items():
            headers = {**token}
            if content_type is not None:
                headers["Content-Type"] = content_type
            if key is not None and key.isprintable():
                headers["Idempotency-Key"] = key
            response = world.client.request(method, url, content=body, headers=headers)
            answers.append((method, path_format, role, response.status_code))
    return answers


_BOUNDED = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@pytest.mark.parametrize("kind", sorted(_BODIES))
@_BOUNDED
@given(data=st.data())
def test_random_input_to_every_route_is_never_a_server_error(world: World, kind: str, data: st.DataObject) -> None:
    answers = _send(world, data, kind)
    server_errors = [answer for answer in answers if answer[3] >= 500]
    assert not server_errors, server_errors
