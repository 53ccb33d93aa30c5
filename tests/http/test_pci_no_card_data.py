"""PCI DSS, end to end on the embedded default (SQLite, local documents, sandbox gateway file):
a card number sent in every request field we can think of — every POST's JSON body, query
strings, path segments, the signing page's and the insurance upload's form fields, the headers
we keep and one we do not — with every logger capturing at DEBUG. Afterwards the number appears
in no log record, in no row of any table of either database (the outbox's payloads and the
stored idempotent answers included), and in no file under the data directory. The JWT secret
and the Stripe webhook secret appear in no log record either.

A normal checkout runs alongside (reserve, order, sign, insure, pay, a webhook, reconcile), so
the tables and files being searched are full of real data, not empty."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.auth.jwt_tokens import JwtTokens
from checkout_core.demo import load_demo
from checkout_core.usecases.context import Role
from entrypoints.bootstrap import App, bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.http.conftest import PDF, SPEC_ORDER_REQUEST, new_key, order_request, path_of

Client = TestClient[Litestar]

PAN = "4242424242424242"
SPACED = "4242 4242 4242 4242"
#: What must never be found: the number as sent, and the other ways it is commonly written.
NEEDLES = (PAN, SPACED, "4242-4242-4242-4242")
JWT_SECRET = "pci-test-jwt-secret-" + "J" * 24
WEBHOOK_SECRET = "whsec_pcitest" + "W" * 24


@pytest.fixture
def core(tmp_path: Path) -> Iterator[App]:
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=JWT_SECRET, stripe_webhook_secret=WEBHOOK_SECRET)
    app = bootstrap(settings)
    load_demo(app.ctx.uow)
    yield app
    app.close()


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG, captured (levels are restored after the test)."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _token(core: App, subject: str, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {JwtTokens(core.jwt_secret).issue(subject, role, now=datetime.now(UTC))}"}


def _stripe_signature(payload: bytes) -> str:
    timestamp = int(time.time())
    digest = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _leaves(document: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every scalar of a JSON document."""
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


class Session:
    """Sends requests with a card number in an ``X-Note`` header, and remembers the answers."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.answers: list[tuple[str, str, int]] = []

    def send(self, method: str, url: str, *, note: str = PAN, **kwargs: Any) -> Any:
        headers = {"X-Note": note, **kwargs.pop("headers", {})}
        response = self.client.request(method, url, headers=headers, **kwargs)
        self.answers.append((method, url, response.status_code))
        return response

    def refused(self, method: str, url: str, **kwargs: Any) -> None:
        """Send a request carrying a card number: it must be refused as card data, as a client error."""
        response = self.send(method, url, **kwargs)
        assert response.status_code == 400, (method, url, response.status_code, response.text)
        assert response.json()["code"] == "card_data_not_accepted", (method, url, response.text)
        assert PAN not in response.text and SPACED not in response.text


def _normal_checkout(s: Session, core: App, customer: dict[str, str], advisor: dict[str, str]) -> dict[str, Any]:
    """The spec's checkout, every request also carrying a card number in an unused header."""
    reserved = s.send(
        "POST",
        "/api/v1/reservations",
        json={"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": "tok_visa"}},
        headers={**customer, "Idempotency-Key": new_key()},
    )
    assert reserved.status_code == 201, reserved.text
    placed = s.send(
        "POST",
        "/api/v1/orders",
        json=order_request(reserved.json()["reservationId"]),
        headers={**customer, "Idempotency-Key": new_key()},
    )
    assert placed.status_code == 201, placed.text
    order: dict[str, Any] = placed.json()
    oid = order["orderId"]
    link = s.send("POST", f"/api/v1/orders/{oid}/documents/sign", headers={**customer, "Idempotency-Key": new_key()})
    page = path_of(link.json()["signatureUrl"])
    envelope = page.rsplit("/", 1)[1]
    assert s.send("GET", page, headers={"User-Agent": "Mozilla/5.0 pci"}).status_code == 200
    signed = s.send("POST", page, data={"consent": "yes", "typedName": "John Doe", "csrfToken": envelope})
    assert signed.status_code == 200, signed.text
    uploaded = s.send(
        "POST",
        f"/api/v1/orders/{oid}/insurance",
        files={"file": ("policy.pdf", PDF, "application/pdf")},
        data={"policyNumber": "POL-12345", "provider": "Intact"},
        headers={**customer, "Idempotency-Key": new_key()},
    )
    assert uploaded.status_code == 201, uploaded.text
    assert s.send("POST", f"/api/v1/orders/{oid}/insurance/verify", headers=advisor).status_code == 200
    paid = s.send(
        "POST",
        f"/api/v1/orders/{oid}/payments/card",
        json={"token": "tok_visa", "amount": 5000},
        headers={**customer, "Idempotency-Key": new_key()},
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["cardLast4"] == "4242"  # brand and last 4 are all we keep
    with core.ctx.uow() as uow:
        [deposit] = uow.ledger.payments_for(reservation_id=order["reservationId"])
    event = json.dumps(
        {
            "id": "evt_pci_1",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": deposit.gateway_ref,
                    "object": "payment_intent",
                    "amount": 10000,
                    "currency": "cad",
                    "status": "succeeded",
                    "metadata": {"ledger_id": deposit.id},
                }
            },
        }
    ).encode()
    hook = s.send(
        "POST", "/api/v1/webhooks/stripe", content=event, headers={"Stripe-Signature": _stripe_signature(event)}
    )
    assert hook.status_code == 200, hook.text
    today = datetime.now(UTC).date().isoformat()
    assert s.send("GET", f"/api/v1/payments/reconciliation?since={today}&until={today}", headers=advisor).json()[
        "clean"
    ]
    assert s.send("GET", f"/api/v1/orders/{oid}/documents/audit", headers=customer).status_code == 200
    return order


def _card_everywhere(s: Session, order: dict[str, Any], customer: dict[str, str], advisor: dict[str, str]) -> None:
    oid = order["orderId"]
    for card in (PAN, SPACED):
        key = {"Idempotency-Key": new_key()}
        # -- JSON bodies of every POST, every field (keys too) ---------------------------------
        reservation = {"vehicleId": "veh_demo002", "paymentMethod": {"type": "card", "token": "tok_visa"}}
        for leaf in _leaves(reservation):
            s.refused("POST", "/api/v1/reservations", json=_with(reservation, leaf, card), headers={**customer, **key})
        s.refused("POST", "/api/v1/reservations", json={**reservation, card: "x"}, headers={**customer, **key})
        for leaf in _leaves(SPEC_ORDER_REQUEST):
            s.refused("POST", "/api/v1/orders", json=_with(SPEC_ORDER_REQUEST, leaf, card), headers={**customer, **key})
        s.refused("POST", f"/api/v1/orders/{oid}/payments/card", json={"token": card}, headers={**customer, **key})
        s.refused(
            "POST",
            f"/api/v1/orders/{oid}/payments/card",
            json={"token": "tok_visa", "amount": int(PAN)},  # as a JSON number
            headers={**customer, **key},
        )
        for field in ("reference", "bankReference"):
            body = {"reference": order["orderNumber"], "amount": 100, "bankReference": "RBC-1", field: card}
            s.refused("POST", "/api/v1/payments/bank-transfers", json=body, headers={**advisor, **key})
        for step, body in (
            ("cancel", {"reason": card}),
            ("return", {"reason": card}),
            ("insurance/reject", {"reason": card}),
            ("insurance/verify", {"note": card}),
            ("documents/sign", {"note": card}),
            ("delivery/schedule", {"date": "2025-12-28", "timeWindow": card}),
            ("delivery/dispatch", {"note": card}),
            ("delivery/deliver", {"note": card}),
            ("complete", {"note": card}),
        ):
            s.refused("POST", f"/api/v1/orders/{oid}/{step}", json=body, headers={**advisor, **key})
        # -- the insurance upload's form fields and file name -----------------------------------
        for field in ("policyNumber", "provider"):
            data = {"policyNumber": "POL-1", "provider": "Intact", field: card}
            s.refused(
                "POST",
                f"/api/v1/orders/{oid}/insurance",
                files={"file": ("p.pdf", PDF, "application/pdf")},
                data=data,
                headers=customer,
            )
        s.refused(
            "POST",
            f"/api/v1/orders/{oid}/insurance",
            files={"file": (f"{card}.pdf", PDF, "application/pdf")},
            data={"policyNumber": "POL-1", "provider": "Intact"},
            headers=customer,
        )
        # -- query strings and path segments ----------------------------------------------------
        s.refused("GET", f"/api/v1/orders?status={card}", headers=customer)
        s.refused("GET", f"/api/v1/reservations?note={card}", headers=customer)
        s.refused("GET", f"/api/v1/payments/reconciliation?since={card}&until=2025-12-23", headers=advisor)
        s.refused("POST", f"/api/v1/orders/{oid}/complete?note={card}", headers=advisor)
        s.refused("GET", f"/api/v1/orders/{card}", headers=customer)
        s.refused("POST", f"/api/v1/orders/{card}/cancel", headers={**customer, **key})
        s.refused("GET", f"/api/v1/orders/{oid}/documents/{card}", headers=customer)
        # -- the idempotency key is stored only as a digest: accepted, and searched for below ----
        kept = s.send("POST", f"/api/v1/orders/{oid}/documents/sign", headers={**customer, "Idempotency-Key": card})
        assert kept.status_code < 500 and kept.json().get("code") != "card_data_not_accepted"
        # -- the user agent is kept as signing evidence: refused -----------------------------
        s.refused("GET", "/api/v1/orders", headers={**customer, "User-Agent": f"Mozilla/5.0 {card}"})
        # -- the signing page's forms (a fresh link: the order above is signed) -----------------
        s.refused("POST", f"/sign/{oid}/env_whatever", data={"consent": "yes", "typedName": card, "csrfToken": "x"})
        s.refused("POST", f"/sign/{oid}/env_whatever", data={"consent": card, "typedName": "John", "csrfToken": "x"})
        s.refused("POST", f"/sign/{oid}/env_whatever", data={"csrfToken": card})
        s.refused("POST", f"/sign/{oid}/env_whatever/decline", data={"csrfToken": card})
        s.refused("GET", f"/sign/{oid}/env_whatever", headers={"User-Agent": card})
        s.refused("GET", f"/sign/{oid}/{card}")
        # -- provider webhooks: the body is verified, not scanned; the rest is scanned ----------
        s.refused("POST", f"/api/v1/webhooks/stripe?note={card}", content=b"{}")
        s.refused("POST", "/api/v1/webhooks/signing", content=b"{}", headers={"User-Agent": card})
        forged = json.dumps({"id": "evt_forged", "type": "payment_intent.succeeded", "note": card}).encode()
        response = s.send(
            "POST", "/api/v1/webhooks/stripe", content=forged, headers={"Stripe-Signature": f"t=1,v1={card}"}
        )
        assert (response.status_code, response.json()["code"]) == (400, "webhook_rejected")
        callback = {"event": {"event_time": "1", "event_type": card, "event_hash": card}, "note": card}
        response = s.send("POST", "/api/v1/webhooks/signing", files={"json": (None, json.dumps(callback))})
        assert (response.status_code, response.json()["code"]) == (400, "webhook_rejected")
        # A genuinely signed Stripe event whose metadata and description carry one: handled, kept nowhere.
        event = json.dumps(
            {
                "id": f"evt_pci_meta_{len(card)}",
                "object": "event",
                "type": "payment_intent.succeeded",
                "created": int(time.time()),
                "data": {
                    "object": {
                        "id": "pi_unknown_to_us",
                        "object": "payment_intent",
                        "amount": 100,
                        "currency": "cad",
                        "status": "succeeded",
                        "description": card,
                        "metadata": {"ledger_id": card, "note": card},
                    }
                },
            }
        ).encode()
        response = s.send(
            "POST", "/api/v1/webhooks/stripe", content=event, headers={"Stripe-Signature": _stripe_signature(event)}
        )
        assert response.status_code == 200, response.text
        assert response.json()["outcome"] == "unknown_payment"


def _log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    standard = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
    texts = []
    for record in caplog.records:
        extras = {k: v for k, v in vars(record).items() if k not in standard}
        texts.append(f"{formatter.format(record)} {record.msg!r} {record.args!r} {extras!r}")
    return texts


def _table_dumps(database: Path) -> dict[str, str]:
    """``SELECT *`` of every table of a SQLite file, as text."""
    with sqlite3.connect(database) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: repr(db.execute(f'SELECT * FROM "{table}"').fetchall()) for table in tables}  # noqa: S608


def test_a_card_number_sent_everywhere_is_kept_nowhere(core: App, debug_logs: pytest.LogCaptureFixture) -> None:
    customer = _token(core, "cus_demo", Role.CUSTOMER)
    advisor = _token(core, "adv_sarah", Role.ADVISOR)
    with TestClient(create_app(core), raise_server_exceptions=False) as client:
        session = Session(client)
        order = _normal_checkout(session, core, customer, advisor)
        _card_everywhere(session, order, customer, advisor)
    core.close()  # everything written and released before the files are read

    assert len(session.answers) > 120
    assert all(status < 500 for _, _, status in session.answers), session.answers

    # Logs: every record of every logger, with its arguments and extra fields.
    texts = _log_texts(debug_logs)
    assert any("Stripe event evt_pci_1" in text for text in texts)  # the capture did see our logs
    for text in texts:
        for needle in (*NEEDLES, JWT_SECRET, WEBHOOK_SECRET):
            assert needle not in text, text

    # Databases: every row of every table (outbox payloads and idempotent answers included).
    data_dir = core.settings.data_dir
    dumps = {**_table_dumps(data_dir / "checkout.sqlite3"), **_table_dumps(data_dir / "sandbox-gateway.sqlite3")}
    for table in ("orders", "payments", "outbox", "idempotency_keys", "signing_audit", "processed_gateway_events"):
        assert dumps[table] != "[]", table  # real data was written and is being searched
    assert "4242" in dumps["payments"]  # the card's last four are kept, as allowed
    for table, dump in dumps.items():
        for needle in NEEDLES:
            assert needle not in dump, (table, needle)

    # Files: every byte of every file under the data directory (databases, WAL, documents, keys).
    files = [path for path in data_dir.rglob("*") if path.is_file()]
    assert any(path.parent.parent.parent.name == "documents" for path in files)
    for path in files:
        content = path.read_bytes()
        for needle in NEEDLES:
            assert needle.encode() not in content, (path, needle)
