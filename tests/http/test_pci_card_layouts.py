"""PCI DSS, whatever the layout: a card number run together with more digits — its expiry and
CVC, padding, in groups separated by spaces, dashes or dots — is refused wherever a request
carries it (the body of every POST route, every query string, path segments, multipart and form
fields), and masked in every log line: ours, uvicorn's access log, Alembic's. Afterwards it is
in no row of any table (the outbox included) and no log record. Ordinary values (ids, prices,
VINs, dates, phone numbers, order numbers, UUIDs, idempotency keys) still pass.

``test_pci_no_card_data.py`` covers the plain and spaced number in every field; this file covers
the layouts that used to pass (a run of more than 19 digits was skipped)."""

from __future__ import annotations

import copy
import logging
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from adapters.auth.jwt_tokens import JwtTokens
from adapters.sql.tables import metadata
from checkout_core.demo import load_demo
from checkout_core.usecases.context import Role
from entrypoints.bootstrap import App, bootstrap
from entrypoints.http.app import create_app
from entrypoints.http.card_guard import contains_card_number
from entrypoints.settings import Settings
from tests.http.conftest import PDF, SPEC_ORDER_REQUEST, new_key, path_of, place_spec_order

Client = TestClient[Litestar]

PAN = "4242424242424242"
AMEX = "378282246310005"
#: Card numbers as people paste them: with the expiry and CVC run on, padded, grouped.
LAYOUTS = (
    "42424242424242421227123",  # PAN + MMYY + CVC
    "4242424242424242000",
    "00042424242424242421227",
    "4242 4242 4242 4242 1227 123",
    "4242-4242-4242-4242-1227-123",
    "4242.4242.4242.4242.1227.123",
    "4242 4242 4242 42421227",  # the expiry run on to the last group
    "3782822463100050427 1234",  # Amex + MMYY, then the CID
)
#: What must be found nowhere afterwards: each layout as sent, its digits, and the bare numbers.
NEEDLES = (*LAYOUTS, *{layout.replace(" ", "").replace("-", "").replace(".", "") for layout in LAYOUTS}, PAN, AMEX)
JWT_SECRET = "layouts-jwt-secret-" + "L" * 24


def _digits_only(text: str) -> str:
    return text.replace(" ", "").replace("-", "").replace(".", "")


def _leaves(document: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _leaves(value, (*path, index))
    else:
        yield path


def _with(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    changed = copy.deepcopy(document)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


@pytest.fixture
def core(tmp_path: Path) -> Iterator[App]:
    app = bootstrap(Settings(data_dir=tmp_path / "data", jwt_secret=JWT_SECRET))
    load_demo(app.ctx.uow)
    yield app
    app.close()


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _token(core: App, subject: str, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {JwtTokens(core.jwt_secret).issue(subject, role, now=datetime.now(UTC))}"}


def _json_bodies(order: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A valid JSON body for every JSON POST route (path format → body)."""
    note = {"note": "fine"}
    return {
        "/api/v1/reservations": {"vehicleId": "veh_demo002", "paymentMethod": {"type": "card", "token": "tok_visa"}},
        "/api/v1/orders": SPEC_ORDER_REQUEST,
        "/api/v1/orders/{order_id}/cancel": {"reason": "changed my mind"},
        "/api/v1/orders/{order_id}/return": {"reason": "changed my mind"},
        "/api/v1/orders/{order_id}/insurance/reject": {"reason": "expired policy"},
        "/api/v1/orders/{order_id}/insurance/verify": note,
        "/api/v1/orders/{order_id}/documents/sign": note,
        "/api/v1/orders/{order_id}/documents/countersign": note,
        "/api/v1/orders/{order_id}/delivery/schedule": {"date": "2025-12-28", "timeWindow": "9:00 AM - 12:00 PM"},
        "/api/v1/orders/{order_id}/delivery/dispatch": note,
        "/api/v1/orders/{order_id}/delivery/deliver": note,
        "/api/v1/orders/{order_id}/complete": note,
        "/api/v1/orders/{order_id}/payments/card": {"token": "tok_visa", "amount": 5000},
        "/api/v1/payments/bank-transfers": {"reference": order["orderNumber"], "amount": 100, "bankReference": "RBC-1"},
    }


#: POST routes whose body is a form (checked with their own fields below) or a provider's
#: document (not scanned: see card_guard; their query strings are).
FORM_ROUTES = {
    "/api/v1/orders/{order_id}/insurance",
    "/sign/{order_id}/{envelope_id}",
    "/sign/{order_id}/{envelope_id}/decline",
}
WEBHOOKS = {"/api/v1/webhooks/stripe", "/api/v1/webhooks/signing"}


class Sender:
    """Sends requests that must be refused as card data, and counts them."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.refusals = 0

    def refused(self, method: str, url: str, **kwargs: Any) -> None:
        response = self.client.request(method, url, **kwargs)
        assert response.status_code == 400, (method, url, kwargs.get("json"), response.text)
        assert response.json()["code"] == "card_data_not_accepted", (method, url, response.text)
        for needle in NEEDLES:
            assert needle not in response.text
        self.refusals += 1


def test_card_numbers_in_any_layout_are_refused_everywhere_and_kept_nowhere(
    core: App, debug_logs: pytest.LogCaptureFixture
) -> None:
    customer = _token(core, "cus_demo", Role.CUSTOMER)
    advisor = _token(core, "adv_sarah", Role.ADVISOR)
    asgi = create_app(core)
    routes = sorted(
        (route.path_format, method)
        for route in asgi.routes
        if isinstance(route, HTTPRoute)
        for method in route.methods
        if method != "OPTIONS"
    )
    with TestClient(asgi, raise_server_exceptions=False) as client:
        order = place_spec_order(client, customer)
        oid = order["orderId"]
        link = client.post(f"/api/v1/orders/{oid}/documents/sign", headers=customer)
        page = path_of(link.json()["signatureUrl"])
        envelope = page.rsplit("/", 1)[1]
        ids = {"order_id": oid, "envelope_id": envelope, "reservation_id": order["reservationId"]}
        ids |= {"document_id": order["documents"][0]["id"], "path": "openapi.json", "page": "1"}
        bodies = _json_bodies(order)
        posts = {path for path, method in routes if method == "POST"}
        assert posts == set(bodies) | FORM_ROUTES | WEBHOOKS  # a new POST route needs a body here
        send = Sender(client)

        for layout in LAYOUTS:
            key = {"Idempotency-Key": new_key()}
            # -- every leaf of the body of every JSON POST route, and a key; digits as a JSON number
            for path, body in bodies.items():
                url = path.format(**ids)
                headers = {
                    **(customer if "reservations" in path or path.endswith(("orders", "card")) else advisor),
                    **key,
                }
                for leaf in _leaves(body):
                    send.refused("POST", url, json=_with(body, leaf, f"see {layout} thanks"), headers=headers)
                send.refused("POST", url, json={**body, layout: "x"}, headers=headers)
                if layout.isdigit():
                    send.refused("POST", url, json={**body, "n": int(layout)}, headers=headers)
            # -- multipart: the insurance upload's fields and file name; the signing forms
            for field in ("policyNumber", "provider"):
                data = {"policyNumber": "POL-1", "provider": "Intact", field: layout}
                files = {"file": ("p.pdf", PDF, "application/pdf")}
                send.refused("POST", f"/api/v1/orders/{oid}/insurance", files=files, data=data, headers=customer)
            files = {"file": (f"{layout}.pdf", PDF, "application/pdf")}
            data = {"policyNumber": "POL-1", "provider": "Intact"}
            send.refused("POST", f"/api/v1/orders/{oid}/insurance", files=files, data=data, headers=customer)
            form = {"consent": "yes", "typedName": "John Doe", "csrfToken": envelope}
            for field in form:
                send.refused("POST", page, data={**form, field: layout})
                send.refused(
                    "POST", page, files={name: (None, value) for name, value in {**form, field: layout}.items()}
                )
            send.refused("POST", page + "/decline", data={"csrfToken": layout})
            # -- the query string of every route, and a path segment
            for path, method in routes:
                url = path.format(**ids)
                for query in (f"x={quote(layout)}", f"status={quote(layout)}", f"note=card%20{quote(layout)}"):
                    send.refused(method, f"{url}?{query}", headers=advisor)
            send.refused("GET", f"/api/v1/orders/{quote(layout)}", headers=customer)
            send.refused("GET", f"/api/v1/orders/{oid}/documents/{quote(layout)}", headers=customer)
            send.refused("GET", f"/sign/{oid}/{quote(layout)}")
            send.refused("GET", "/api/v1/orders", headers={**customer, "User-Agent": f"Mozilla/5.0 {layout}"})
        # The order was left alone by all of it.
        assert client.get(f"/api/v1/orders/{oid}", headers=customer).json()["status"] == "pending_documents"
    core.close()

    assert send.refusals > 700
    # Every row of every table of the schema, and of the sandbox gateway's file.
    data_dir = core.settings.data_dir
    with sqlite3.connect(data_dir / "checkout.sqlite3") as db:
        dumps = {t.name: repr(db.execute(f'SELECT * FROM "{t.name}"').fetchall()) for t in metadata.sorted_tables}  # noqa: S608
    with sqlite3.connect(data_dir / "sandbox-gateway.sqlite3") as db:
        names = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        dumps |= {f"sandbox.{n}": repr(db.execute(f'SELECT * FROM "{n}"').fetchall()) for n in names}  # noqa: S608
    assert dumps["orders"] != "[]" and dumps["outbox"] != "[]"  # real rows are being searched
    for table, dump in dumps.items():
        for needle in NEEDLES:
            assert needle not in dump, (table, needle)
    # Every log record: message, arguments, extra fields.
    standard = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
    assert debug_logs.records
    for record in debug_logs.records:
        extras = {k: v for k, v in vars(record).items() if k not in standard}
        text = f"{record.getMessage()} {record.msg!r} {record.args!r} {extras!r} {record.exc_text or ''}"
        for needle in NEEDLES:
            assert needle not in text, text
        assert PAN not in _digits_only(text) and AMEX not in _digits_only(text), text


# -- false positives -----------------------------------------------------------------------

ORDINARY = (
    "ord_000001 res_xyz789 doc_r3frlt5olanw47tg veh_abc123 trade_123 app_xyz789",
    "price 2499900 cents, total 1994224, tax 229424",
    "VIN 1HGCM82633A004352 and 2HGFC2F59MH512345",
    "on 2025-12-28, 2025-12-23T11:00:00Z, 23.12.2025, 12/27",
    "call 416-555-1234 or 416-555-9876, +1 416 555 1234, 416.555.1234, (604) 555-0199",
    "order CLT-2025-10001 and CLT-2025-10002",
    "ref 44e01297-3328-4720-a1b2-c3d4e5f6a7b8 and 01297332-8472-4012-8123-456789012345",
    "key 9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
    "pi_3MtwBwLkdIwHu7ix28a3tqPa tok_visa pm_card_visa",
    "1766484000.123456 and 0000000000000000",
)


def test_ordinary_values_pass_the_guard(client: Client, customer: dict[str, str], placed_order: dict[str, Any]) -> None:
    oid = placed_order["orderId"]
    for text in ORDINARY:
        assert not contains_card_number(text), text
        response = client.get(f"/api/v1/orders?note={quote(text)}", headers=customer)
        assert response.status_code == 200, (text, response.text)
    # UUIDs (seeded, so the run is reproducible) in the query, the body and as idempotency keys.
    rng = random.Random(20251223)
    keys = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(2000)]
    assert not any(contains_card_number(key) for key in keys)
    for key in keys[:25]:
        response = client.post(
            f"/api/v1/orders/{oid}/delivery/dispatch?ref={key}",
            json={"note": key},
            headers={**customer, "Idempotency-Key": key},
        )
        assert (response.status_code, response.json()["code"]) == (403, "forbidden"), response.text  # past the guard
    # A reason made of such values is accepted.
    reason = (
        "VIN 1HGCM82633A004352, order CLT-2025-10001, call 416-555-1234 or 416.555.9876 before 2025-12-28, "
        "refund 2499900 cents, ref 44e01297-3328-4720-a1b2-c3d4e5f6a7b8, pi_3MtwBwLkdIwHu7ix28a3tqPa"
    )
    cancelled = client.post(f"/api/v1/orders/{oid}/cancel", json={"reason": reason}, headers=customer)
    assert cancelled.status_code == 200, cancelled.text


# -- uvicorn's access log and Alembic's lines, in processes of their own ---------------------


def test_bootstrap_masks_every_logger_before_anything_else_runs(tmp_path: Path) -> None:
    """In a fresh interpreter (the record factory is process-wide, and this one has it already):
    ``bootstrap()`` alone — no HTTP app — masks Alembic's and uvicorn's records, including those
    the migrations write while it runs."""
    script = textwrap.dedent(
        f"""
        import io, logging, sys
        from pathlib import Path
        stream = io.StringIO()
        logging.basicConfig(level=logging.DEBUG, stream=stream, format="%(name)s %(message)s")
        from entrypoints.bootstrap import bootstrap
        from entrypoints.settings import Settings
        app = bootstrap(Settings(data_dir=Path({str(tmp_path / "data")!r}), jwt_secret={JWT_SECRET!r}))
        logging.getLogger("alembic.runtime.migration").info("Running upgrade %s", {LAYOUTS[0]!r})
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/api/v1/orders?x=4242424242424242000", "1.1", 400
        )
        logging.getLogger("uvicorn.error").error("bad request line %s", {LAYOUTS[3]!r})
        app.close()
        sys.stdout.write(stream.getvalue())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False, cwd=os.getcwd()
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout
    assert "alembic.runtime.migration Running upgrade" in lines  # the migrations' own lines are there
    assert lines.count("[REDACTED-PAN]") == 3, lines
    assert 'uvicorn.access 127.0.0.1:1 - "GET /api/v1/orders?x=[REDACTED-PAN] HTTP/1.1" 400' in lines
    for needle in (*NEEDLES, "4242424242424242000"):
        assert needle not in lines


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310  # local http only
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_uvicorn_access_log_of_checkout_serve_is_masked(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHECKOUT_", "STRIPE_", "DROPBOX_SIGN_"))}
    env |= {"CHECKOUT_DATA_DIR": str(tmp_path / "data"), "CHECKOUT_LOG_LEVEL": "DEBUG"}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "checkout"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _get(base + "/health") != 200 and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.3)
        for layout in LAYOUTS:
            assert _get(f"{base}/health?x={quote(layout)}") == 400
            assert _get(f"{base}/api/v1/orders/{quote(layout)}") == 400
        assert _get(f"{base}/nowhere/{LAYOUTS[0]}") == 404  # no route: answered unread, logged masked
        server.send_signal(signal.SIGTERM)
        stdout, stderr = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    output = stdout + stderr
    # One access line per request (ours, JSON off a terminal): the route template, never the raw
    # path or query, so a card number in either cannot reach the log.
    assert '"route": "/health", "status": 400' in output, output
    assert '"route": "unmatched", "status": 404' in output, output
    for needle in NEEDLES:
        assert needle not in output and quote(needle) not in output, needle
