"""A stored document that fails its integrity check (the local store re-hashes every read) is
never a bare 500: it is 500 ``document_integrity_failed`` with a problem body, a
``DocumentIntegrityFailed`` event on the order's timeline and outbox (once per damage), and one
ERROR line without a traceback for the operators. Restoring the file makes it servable again.
On the embedded default: SQLite and the local document store."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.auth.jwt_tokens import JwtTokens
from adapters.documents.local_store import LocalDocumentStore
from checkout_core.demo import load_demo
from checkout_core.usecases.context import Role
from entrypoints.bootstrap import App, bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.http.conftest import new_key, path_of, place_spec_order

Client = TestClient[Litestar]
CODE = "document_integrity_failed"


@pytest.fixture
def core(tmp_path: Path) -> Iterator[App]:
    app = bootstrap(Settings(data_dir=tmp_path / "data", jwt_secret="integrity-jwt-secret-" + "i" * 24))
    load_demo(app.ctx.uow)
    yield app
    app.close()


def _headers(core: App, subject: str, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {JwtTokens(core.jwt_secret).issue(subject, role, now=datetime.now(UTC))}"}


def _damage(core: App, key: str, flip_at: int = 10) -> bytes:
    """Flip one bit of the stored file of ``key``; its original bytes."""
    store = core.ctx.documents
    assert isinstance(store, LocalDocumentStore)
    path = store.root / key[:2] / key[2:4] / key
    original = path.read_bytes()
    damaged = bytearray(original)
    damaged[flip_at] ^= 0x01
    path.chmod(0o640)
    path.write_bytes(bytes(damaged))
    return original


def _integrity_problem(response: Any, document_id: str) -> None:
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == CODE
    assert body["type"].endswith("/document-integrity-failed")
    assert body["documentId"] == document_id
    assert "integrity check" in body["detail"]
    assert "Retry-After" not in response.headers  # retrying will not help
    assert "instance" not in body  # not an unexpected error


def _events(core: App, order_id: str) -> list[dict[str, Any]]:
    with core.ctx.uow() as uow:
        return [dict(e.payload) for e in uow.outbox.for_aggregate(order_id) if e.name == "DocumentIntegrityFailed"]


def _operator_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert all(r.name == "checkout.documents" and r.exc_info is None and not r.exc_text for r in errors), [
        (r.name, r.getMessage()) for r in errors
    ]
    assert "Traceback" not in caplog.text
    return errors


def test_a_damaged_agreement_is_a_problem_with_its_own_code_and_an_event(
    core: App, caplog: pytest.LogCaptureFixture
) -> None:
    customer = _headers(core, "cus_demo", Role.CUSTOMER)
    advisor = _headers(core, "adv_sarah", Role.ADVISOR)
    with TestClient(create_app(core), raise_server_exceptions=False) as client:
        order = place_spec_order(client, customer)
        oid, [agreement] = order["orderId"], order["documents"]
        original = _damage(core, agreement["sha256"])

        with caplog.at_level(logging.INFO):
            download = client.get(f"/api/v1/orders/{oid}/documents/{agreement['id']}", headers=customer)
            again = client.get(f"/api/v1/orders/{oid}/documents/{agreement['id']}", headers=advisor)
            key = {"Idempotency-Key": new_key()}
            sign = client.post(f"/api/v1/orders/{oid}/documents/sign", headers={**customer, **key})

        for response in (download, again, sign):
            _integrity_problem(response, agreement["id"])
        # One event for this damage, however often the document is asked for.
        [event] = _events(core, oid)
        assert event["documentId"] == agreement["id"]
        assert event["kind"] == "purchase_agreement"
        assert event["expectedSha256"] == agreement["sha256"]
        assert event["actualSha256"] != agreement["sha256"]
        timeline = client.get(f"/api/v1/orders/{oid}", headers=advisor).json()["timeline"]
        assert {"event": "Document failed its integrity check", "status": "failed"}.items() <= timeline[-1].items()
        # The operators get one line per failed read, at ERROR, without a traceback.
        assert len(_operator_lines(caplog)) == 3
        assert order["status"] == "pending_documents"

        # Restored from a backup: served again, and signing goes ahead (the 500 released the key).
        core.ctx.documents.put(original, "application/pdf")
        assert client.get(f"/api/v1/orders/{oid}/documents/{agreement['id']}", headers=customer).content == original
        signed = client.post(f"/api/v1/orders/{oid}/documents/sign", headers={**customer, **key})
        assert signed.status_code == 200, signed.text

        # Damaged again, differently, while the signing link is open: the signing page's PDF and
        # the signing itself are refused the same way, and this new damage is a second event.
        _damage(core, agreement["sha256"], flip_at=20)
        page = path_of(signed.json()["signatureUrl"])
        caplog.clear()
        with caplog.at_level(logging.INFO):
            pdf = client.get(page + "/agreement.pdf")
            form = client.post(
                page, data={"consent": "yes", "typedName": "John Doe", "csrfToken": page.rsplit("/", 1)[1]}
            )
        _integrity_problem(pdf, agreement["id"])
        assert form.status_code == 500  # the signing page answers HTML
        assert "integrity check" in form.text
        assert len(_events(core, oid)) == 2
        assert len(_operator_lines(caplog)) == 2
        assert client.get(f"/api/v1/orders/{oid}", headers=customer).json()["status"] == "pending_documents"
