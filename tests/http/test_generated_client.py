"""A client generated from the OpenAPI document with openapi-python-client places an order:
the operations read as method names, and the agreement download comes back as bytes."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.http.conftest import new_key, order_request

Client = TestClient[Litestar]
GENERATOR = Path(sys.executable).parent / "openapi-python-client"

pytestmark = pytest.mark.slow


@pytest.fixture
def generated(client: Client, tmp_path: Path) -> Iterator[str]:
    """The generated package's name (importable while the test runs)."""
    document = tmp_path / "openapi.json"
    document.write_text(client.get("/schema/openapi.json").text)
    made = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(tmp_path / "checkout_client"),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert "response will be omitted" not in made.stdout + made.stderr, made.stdout
    sys.path.insert(0, str(tmp_path))
    yield "checkout_client"
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m == "checkout_client" or m.startswith("checkout_client.")]:
        del sys.modules[name]


def operation(package: str, tag: str, name: str) -> ModuleType:
    return importlib.import_module(f"{package}.api.{tag}.{name}")


def body_of(module: ModuleType, data: dict[str, Any]) -> Any:
    """The generated request model of an operation, from the JSON the spec shows."""
    model = typing.get_type_hints(module.sync_detailed)["body"]
    return model.from_dict(data)


def test_a_generated_client_places_an_order(generated: str, client: Client, customer: dict[str, str]) -> None:
    api = importlib.import_module(generated)
    sdk = api.AuthenticatedClient(base_url=str(client.base_url), token=customer["Authorization"].split()[1])
    client.headers.update(customer)
    sdk.set_httpx_client(client)  # the generated code sends its requests through the test client

    create_reservation = operation(generated, "reservations", "create_reservation")
    reserved = create_reservation.sync_detailed(
        client=sdk,
        body=body_of(
            create_reservation, {"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_visa"}}
        ),
        idempotency_key=new_key(),
    )
    assert reserved.status_code == 201, reserved.content
    reservation_id = json.loads(reserved.content)["reservationId"]

    create_order = operation(generated, "orders", "create_order")
    placed = create_order.sync_detailed(
        client=sdk, body=body_of(create_order, order_request(reservation_id)), idempotency_key=new_key()
    )
    assert placed.status_code == 201, placed.content
    order_id = json.loads(placed.content)["orderId"]

    order = operation(generated, "orders", "get_order").sync(client=sdk, order_id=order_id)
    assert order is not None and order.order_id == order_id
    assert order.pricing.total_due == 1994224

    documents = json.loads(
        operation(generated, "documents", "list_documents").sync_detailed(client=sdk, order_id=order_id).content
    )
    agreement = documents["items"][0]
    download = operation(generated, "documents", "download_document").sync(
        client=sdk, order_id=order_id, document_id=agreement["id"]
    )
    expected = client.get(f"/api/v1/orders/{order_id}/documents/{agreement['id']}").content
    assert download is not None and download.payload.read() == expected
