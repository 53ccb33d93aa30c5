"""``POST /api/v1/webhooks/signing`` with Dropbox Sign: the real adapter (official SDK) talks to
the local fake of its API (``tests/signing/fake_dropbox_sign.py``), which also plays the buyer
(view, sign, decline) and builds the callbacks exactly as Dropbox Sign posts them — genuine,
forged, stale or edited after hashing."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.signing.dropbox_sign import CALLBACK_ACKNOWLEDGEMENT, DropboxSignSigner
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from entrypoints.bootstrap import App, bootstrap_in_memory
from entrypoints.http.app import create_app
from tests.http.conftest import place_spec_order
from tests.signing.conftest import fake, signer  # noqa: F401 - the fake Dropbox Sign API and the adapter on it
from tests.signing.fake_dropbox_sign import FakeDropboxSign

Client = TestClient[Litestar]
WEBHOOK = "/api/v1/webhooks/signing"


@pytest.fixture
def core(clock: FixedClock, signer: DropboxSignSigner) -> Iterator[App]:  # noqa: F811 - the imported fixture
    """The in-memory app with the demo data, signing through Dropbox Sign (the fake)."""
    app = bootstrap_in_memory(clock=clock, ids=SequentialIds(), signer=signer)
    load_demo(app.ctx.uow)
    yield app
    app.close()


def post_callback(client: Client, callback: tuple[bytes, dict[str, str]]) -> Any:
    """Deliver a callback as Dropbox Sign does: its body and headers, no token."""
    body, headers = callback
    return client.post(WEBHOOK, content=body, headers=headers)


def start(client: Client, customer: dict[str, str], fake: FakeDropboxSign) -> tuple[str, str]:  # noqa: F811
    """Place the spec's order and open its envelope at Dropbox Sign: (order id, request id)."""
    order = place_spec_order(client, customer)
    link = client.post(f"/api/v1/orders/{order['orderId']}/documents/sign", headers=customer)
    assert link.status_code == 200, link.text
    request = fake.only()
    assert link.json()["signatureUrl"].startswith("https://app.hellosign.com/")
    return order["orderId"], request.signature_request_id


def order_view(client: Client, customer: dict[str, str], order_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/orders/{order_id}", headers=customer)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def trail(client: Client, headers: dict[str, str], order_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/orders/{order_id}/documents/audit", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def assert_acknowledged(response: Any) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == CALLBACK_ACKNOWLEDGEMENT


def test_a_signed_callback_completes_the_order(
    client: Client,
    customer: dict[str, str],
    advisor: dict[str, str],
    fake: FakeDropboxSign,  # noqa: F811
) -> None:
    order_id, request_id = start(client, customer, fake)
    fake.view(request_id)
    assert_acknowledged(post_callback(client, fake.callback(request_id, "signature_request_viewed")))
    signed_pdf = fake.sign(request_id)

    assert_acknowledged(post_callback(client, fake.callback(request_id, "signature_request_all_signed")))

    order = order_view(client, customer, order_id)
    assert order["status"] == "pending_insurance"
    signed = [d for d in order["documents"] if d["type"] == "signed_agreement"]
    assert len(signed) == 1
    download = client.get(signed[0]["url"], headers=customer)
    assert download.status_code == 200
    assert download.content == signed_pdf  # Dropbox Sign's final copy, kept as it sent it
    entries = trail(client, advisor, order_id)
    assert [e["action"] for e in entries] == ["created", "sent", "viewed", "consented", "signed"]
    assert {e["signerEmail"] for e in entries} == {"john@example.com"}
    assert all(e["signerName"] == "John Doe" for e in entries)
    for previous, entry in itertools.pairwise(entries):
        assert entry["prevHash"] == previous["entryHash"]


def test_a_replayed_callback_changes_nothing(
    client: Client,
    customer: dict[str, str],
    fake: FakeDropboxSign,  # noqa: F811
) -> None:
    order_id, request_id = start(client, customer, fake)
    fake.sign(request_id)
    signed = fake.callback(request_id, "signature_request_all_signed")
    viewed = fake.callback(request_id, "signature_request_viewed")
    assert_acknowledged(post_callback(client, viewed))
    assert_acknowledged(post_callback(client, signed))
    before = (order_view(client, customer, order_id), trail(client, customer, order_id))

    for callback in (signed, viewed, signed):  # Dropbox Sign retries, or someone replays a capture
        assert_acknowledged(post_callback(client, callback))

    assert (order_view(client, customer, order_id), trail(client, customer, order_id)) == before


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        pytest.param(
            lambda api, rid: api.callback(rid, "signature_request_all_signed", api_key="not-the-key"),
            "forged",
            id="forged-hash",
        ),
        pytest.param(
            lambda api, rid: api.callback(
                rid, "signature_request_all_signed", at=api.clock.now() - timedelta(minutes=10)
            ),
            "stale",
            id="stale",
        ),
        pytest.param(
            lambda api, rid: api.callback(
                rid,
                "signature_request_viewed",
                mutate=lambda p: p["event"].__setitem__("event_type", "signature_request_all_signed"),
            ),
            "forged",
            id="type-changed-after-hashing",
        ),
        pytest.param(
            lambda api, rid: api.callback(
                rid,
                "signature_request_all_signed",
                # A new dict: the fake's payload shares the stored request's metadata object.
                mutate=lambda p: p["signature_request"].__setitem__("metadata", {"order_id": "ord_someone_else"}),
            ),
            "unconfirmed",
            id="order-id-edited",
        ),
        pytest.param(lambda api, rid: (b"json=%7B%7D", {"Content-Type": "text/plain"}), "malformed", id="malformed"),
    ],
)
def test_a_callback_that_does_not_verify_is_400_and_changes_nothing(
    client: Client,
    customer: dict[str, str],
    fake: FakeDropboxSign,  # noqa: F811
    build: Any,
    reason: str,
) -> None:
    order_id, request_id = start(client, customer, fake)
    fake.sign(request_id)  # genuinely signed at the provider: only the callback is bad
    before = (order_view(client, customer, order_id), trail(client, customer, order_id))

    response = post_callback(client, build(fake, request_id))

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (response.json()["code"], response.json()["reason"]) == ("webhook_rejected", reason)
    assert (order_view(client, customer, order_id), trail(client, customer, order_id)) == before


def test_a_signed_callback_before_the_buyer_signed_is_refused(
    client: Client,
    customer: dict[str, str],
    fake: FakeDropboxSign,  # noqa: F811
) -> None:
    """The event hash covers only time and type: a genuine-looking "all signed" for a request
    that Dropbox Sign says is not complete is not believed."""
    order_id, request_id = start(client, customer, fake)
    response = post_callback(client, fake.callback(request_id, "signature_request_all_signed"))
    assert (response.status_code, response.json()["reason"]) == (400, "unconfirmed")
    assert order_view(client, customer, order_id)["status"] == "pending_documents"


def test_the_provider_unreachable_is_503_and_the_retry_goes_through(
    client: Client,
    customer: dict[str, str],
    fake: FakeDropboxSign,  # noqa: F811
) -> None:
    order_id, request_id = start(client, customer, fake)
    fake.sign(request_id)
    callback = fake.callback(request_id, "signature_request_all_signed")
    fake.fail_next(503)  # the confirmation read fails (the adapter retries only connection errors)

    response = post_callback(client, callback)

    assert response.status_code == 503
    assert response.json()["code"] == "signing_not_available"
    assert "retry-after" in response.headers
    assert order_view(client, customer, order_id)["status"] == "pending_documents"
    assert_acknowledged(post_callback(client, callback))
    assert order_view(client, customer, order_id)["status"] == "pending_insurance"


def test_a_declined_callback_closes_the_envelope_and_asking_again_opens_a_new_one(
    client: Client,
    customer: dict[str, str],
    fake: FakeDropboxSign,  # noqa: F811
) -> None:
    order_id, request_id = start(client, customer, fake)
    fake.decline(request_id)

    assert_acknowledged(post_callback(client, fake.callback(request_id, "signature_request_declined")))

    assert [e["action"] for e in trail(client, customer, order_id)] == ["created", "sent", "declined"]
    assert order_view(client, customer, order_id)["status"] == "pending_documents"
    again = client.post(f"/api/v1/orders/{order_id}/documents/sign", headers=customer)
    assert again.status_code == 200
    assert len(fake.requests) == 2  # a new Dropbox Sign request, not the declined one
    assert [e["action"] for e in trail(client, customer, order_id)][-2:] == ["created", "sent"]


def test_the_test_event_and_account_events_are_acknowledged(
    client: Client,
    customer: dict[str, str],
    fake: FakeDropboxSign,  # noqa: F811
) -> None:
    assert_acknowledged(post_callback(client, fake.callback(None, "callback_test")))
    order_id, request_id = start(client, customer, fake)
    for event in ("signature_request_sent", "signature_request_remind", "signature_request_downloadable"):
        assert_acknowledged(post_callback(client, fake.callback(request_id, event)))
    assert order_view(client, customer, order_id)["status"] == "pending_documents"
    assert [e["action"] for e in trail(client, customer, order_id)] == ["created", "sent"]


def test_the_built_in_signer_accepts_no_callbacks(clock: FixedClock) -> None:
    app = bootstrap_in_memory(clock=clock)
    try:
        with TestClient(create_app(app), raise_server_exceptions=False) as client:
            response = client.post(WEBHOOK, content=b'{"event": {}}', headers={"Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.json()["code"] == "webhook_rejected"
    finally:
        app.close()


def test_a_genuine_callback_whose_ids_look_like_a_card_number_is_accepted(
    client: Client,
    customer: dict[str, str],
    fake: FakeDropboxSign,  # noqa: F811
) -> None:
    """Dropbox Sign's ids are 40 hex digits; about one in 400 holds a Luhn-valid run of 13+
    digits. The card scan skips provider-signed bodies, so such a delivery is not refused (it
    would be refused on every retry)."""
    order_id, request_id = start(client, customer, fake)
    luhn_valid_id = "ab4242424242424242cd" + "0" * 20

    def provider_ids(payload: dict[str, Any]) -> None:
        payload["account_guid"] = luhn_valid_id
        payload["event"]["event_metadata"]["reported_for_account_id"] = luhn_valid_id

    response = post_callback(client, fake.callback(request_id, "signature_request_viewed", mutate=provider_ids))

    assert_acknowledged(response)
    assert [e["action"] for e in trail(client, customer, order_id)] == ["created", "sent", "viewed"]


def test_the_acknowledgement_is_the_providers() -> None:
    from adapters.signing import dropbox_sign
    from entrypoints.http import routes_webhooks

    assert routes_webhooks.CALLBACK_ACKNOWLEDGEMENT == dropbox_sign.CALLBACK_ACKNOWLEDGEMENT
