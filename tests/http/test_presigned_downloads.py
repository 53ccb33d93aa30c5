"""Documents in a bucket over HTTP: downloads stream through the API's owner check, or — with
``CHECKOUT_S3_PRESIGNED_SECONDS`` — answer 307 to a short-lived presigned URL after that same
check. The bucket is on moto's S3 server (a real S3 API, started by the tests)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from entrypoints.bootstrap import App, bootstrap
from entrypoints.settings import load_settings
from tests import s3_server
from tests.s3_server import CREDENTIALS, Bucket

s3_endpoint = s3_server.s3_endpoint  # the fixtures, for this module
s3_bucket = s3_server.s3_bucket


@pytest.fixture(params=[0, 60], ids=["streamed", "presigned"])
def core(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    s3_bucket: Bucket,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[App]:
    """The app on SQLite with its documents in the test bucket (replaces the in-memory one)."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    env = {
        **s3_bucket.env(),
        "CHECKOUT_DATA_DIR": str(tmp_path),
        "CHECKOUT_JWT_SECRET": "presigned-test-secret-" + "x" * 16,
        "CHECKOUT_S3_PRESIGNED_SECONDS": str(request.param),
    }
    app = bootstrap(load_settings(env), clock=clock, ids=SequentialIds())
    load_demo(app.ctx.uow)
    yield app
    app.close()


def _agreement(client: TestClient[Litestar], headers: dict[str, str], order_id: str) -> dict[str, Any]:
    listed = client.get(f"/api/v1/orders/{order_id}/documents", headers=headers)
    assert listed.status_code == 200, listed.text
    found: dict[str, Any] = next(d for d in listed.json()["items"] if d["type"] == "purchase_agreement")
    return found


def test_the_owner_downloads_the_agreement_and_nobody_else_does(
    core: App,
    client: TestClient[Litestar],
    customer: dict[str, str],
    stranger: dict[str, str],
    placed_order: dict[str, Any],
) -> None:
    agreement = _agreement(client, customer, placed_order["orderId"])
    answer = client.get(agreement["url"], headers=customer, follow_redirects=False)
    if core.settings.s3_presigned_seconds:
        assert answer.status_code == 307
        assert answer.headers["cache-control"] == "private, no-store"
        location = answer.headers["location"]
        assert location.startswith(core.settings.s3_endpoint_url)
        assert "X-Amz-Expires=60" in location
        fetched = httpx.get(location)
        assert fetched.status_code == 200
        assert fetched.headers["content-disposition"] == f'attachment; filename="{agreement["id"]}.pdf"'
        content = fetched.content
    else:
        assert answer.status_code == 200
        content = answer.content
    assert content.startswith(b"%PDF-")
    assert hashlib.sha256(content).hexdigest() == agreement["sha256"]
    refused = client.get(agreement["url"], headers=stranger, follow_redirects=False)
    assert refused.status_code == 404
    assert "location" not in refused.headers
