"""Tamper detection end to end on the embedded default: SQLite, the content-addressed
``LocalDocumentStore`` with reportlab agreements and PAdES-sealed signed copies, and the CLI
building its own App from the settings as in production.

An order is placed and signed; ``checkout documents verify`` passes. Then one audit row is
edited (or removed) behind the application's back in the SQLite file, and one byte of the stored
signed PDF is flipped on disk: each is detected, named, and exits 1. Also ``payments reconcile``
against a charge made directly at the sandbox gateway's own database (a "dashboard" charge)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from adapters.payments.sandbox import SandboxGateway
from adapters.system.clock import SystemClock
from checkout_core.demo import load_demo
from checkout_core.model.order import DocumentKind, Order
from checkout_core.money import Money
from checkout_core.usecases.orders import (
    complete_signing,
    place_order,
    record_signing_view,
    start_signing,
)
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import bootstrap
from entrypoints.cli.app_factory import CliState
from entrypoints.cli.main import cli
from entrypoints.settings import Settings, SettingsError, load_settings
from tests.cli.conftest import JOHN
from tests.core.spec_example import spec_order


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def signed_order(settings: Settings) -> Order:
    """The spec's order, placed and signed through the built-in signing flow on SQLite."""
    app = bootstrap(settings)
    try:
        load_demo(app.ctx.uow)
        reservation = reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
        order = place_order(app.ctx, JOHN, spec_order(reservation.id))
        envelope = start_signing(app.ctx, JOHN, order.id)
        evidence = {"ip_address": "198.51.100.7", "user_agent": "Mozilla/5.0 (tamper test)"}
        record_signing_view(app.ctx, order_id=order.id, envelope_id=envelope.id, **evidence)
        signed = complete_signing(
            app.ctx, order_id=order.id, envelope_id=envelope.id, typed_name="John Doe", consent=True, **evidence
        )
    finally:
        app.close()
    return signed


def checkout(settings: Settings, *args: str) -> Result:
    """Run ``checkout`` in-process; it bootstraps its own App from ``settings`` and closes it."""
    return CliRunner().invoke(cli, list(args), obj=CliState(load_settings=lambda: settings))


def database(settings: Settings) -> sqlite3.Connection:
    return sqlite3.connect(settings.data_dir / "checkout.sqlite3", isolation_level=None)


def stored_file(settings: Settings, order: Order, kind: DocumentKind) -> Path:
    """The file behind a document: the store is content-addressed (``documents/ab/cd/abcd…``)."""
    record = order.document(kind)
    assert record is not None
    key = record.storage_key
    assert key == record.sha256
    path = settings.data_dir / "documents" / key[:2] / key[2:4] / key
    assert path.is_file()
    return path


def test_an_untouched_order_verifies(settings: Settings, signed_order: Order) -> None:
    result = checkout(settings, "documents", "verify", signed_order.id)
    assert result.exit_code == 0, result.output
    assert f"order {signed_order.id}: intact — 5 audit entries, 2 documents, 0 problems" in result.stdout
    trail = json.loads(checkout(settings, "documents", "audit", signed_order.id, "--json").stdout)
    assert [e["action"] for e in trail["items"]] == ["created", "sent", "viewed", "consented", "signed"]
    assert trail["items"][2]["ipAddress"] == "198.51.100.7"


def test_an_edited_audit_row_is_detected_and_named(settings: Settings, signed_order: Order) -> None:
    with database(settings) as db:
        changed = db.execute(
            "UPDATE signing_audit SET ip_address = '203.0.113.66' WHERE order_id = ? AND action = 'viewed'",
            (signed_order.id,),
        ).rowcount
    assert changed == 1

    result = checkout(settings, "documents", "verify", signed_order.id)

    assert result.exit_code == 1, result.output
    assert "audit trail: entry 2 (viewed): content does not match its hash (edited?)" in result.stdout
    assert "TAMPERED OR DAMAGED" in result.stdout
    report = json.loads(checkout(settings, "documents", "verify", signed_order.id, "--json").stdout)
    assert report["ok"] is False
    assert report["chainProblems"] == ["entry 2 (viewed): content does not match its hash (edited?)"]
    assert report["documentProblems"] == []

    with database(settings) as db:  # put it back: the chain verifies again
        db.execute(
            "UPDATE signing_audit SET ip_address = '198.51.100.7' WHERE order_id = ? AND action = 'viewed'",
            (signed_order.id,),
        )
    assert checkout(settings, "documents", "verify", signed_order.id).exit_code == 0


def test_a_removed_audit_row_is_detected(settings: Settings, signed_order: Order) -> None:
    with database(settings) as db:
        db.execute("DELETE FROM signing_audit WHERE order_id = ? AND action = 'consented'", (signed_order.id,))

    result = checkout(settings, "documents", "verify", signed_order.id)

    assert result.exit_code == 1
    assert "entry 4 (signed): sequence 4, expected 3 (missing entry?)" in result.stdout
    assert "entry 4 (signed): does not follow the previous entry (removed or reordered?)" in result.stdout


def test_one_flipped_byte_of_the_signed_pdf_is_detected_and_named(settings: Settings, signed_order: Order) -> None:
    path = stored_file(settings, signed_order, DocumentKind.SIGNED_AGREEMENT)
    assert path.stat().st_mode & 0o777 == 0o440  # the store keeps its files read-only
    path.chmod(0o640)
    content = bytearray(path.read_bytes())
    middle = len(content) // 2
    content[middle] ^= 0x01
    path.write_bytes(bytes(content))
    path.chmod(0o440)

    result = checkout(settings, "documents", "verify", signed_order.id)

    assert result.exit_code == 1, result.output
    signed = signed_order.document(DocumentKind.SIGNED_AGREEMENT)
    assert signed is not None
    assert f"document: signed_agreement {signed.id}:" in result.stdout
    report = json.loads(checkout(settings, "documents", "verify", signed_order.id, "--json").stdout)
    assert report["chainProblems"] == []
    [problem] = report["documentProblems"]
    assert problem.startswith(f"signed_agreement {signed.id}:")


def test_a_replaced_agreement_is_detected(settings: Settings, signed_order: Order) -> None:
    """Swapping the agreement for other bytes (here: removing its file) is named too."""
    path = stored_file(settings, signed_order, DocumentKind.PURCHASE_AGREEMENT)
    path.chmod(0o640)
    path.unlink()

    result = checkout(settings, "documents", "verify", signed_order.id)

    assert result.exit_code == 1
    agreement = signed_order.document(DocumentKind.PURCHASE_AGREEMENT)
    assert agreement is not None
    assert f"document: purchase_agreement {agreement.id}:" in result.stdout


def test_reconcile_finds_a_charge_made_at_the_gateway_only(settings: Settings, signed_order: Order) -> None:
    today = datetime.now(UTC).date().isoformat()
    period = ["--since", today, "--until", today]
    clean = checkout(settings, "payments", "reconcile", *period, "--json")
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.stdout)["buckets"]["matched"]["count"] == 1  # the deposit

    # Someone charges a card in the gateway's dashboard: the gateway has it, our ledger does not.
    dashboard = SandboxGateway(SystemClock(), settings.data_dir / "sandbox-gateway.sqlite3")
    try:
        charge = dashboard.charge(
            amount=Money(12345), source="tok_visa", idempotency_key="dashboard-2", description="manual", metadata={}
        )
    finally:
        dashboard.close()

    result = checkout(settings, "payments", "reconcile", *period)

    assert result.exit_code == 1, result.output
    assert charge.ref in result.stdout
    assert "$123.45" in result.stdout
    report = json.loads(checkout(settings, "payments", "reconcile", *period, "--json").stdout)
    [outside] = report["buckets"]["missingInLedger"]["items"]
    assert (outside["ref"], outside["amount"]) == (charge.ref, 12345)


def test_documents_generate_renders_the_agreements_left_to_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", agreements="worker")
    app = bootstrap(settings)
    try:
        load_demo(app.ctx.uow)
        reservation = reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
        placed = place_order(app.ctx, JOHN, spec_order(reservation.id))
    finally:
        app.close()
    assert placed.document(DocumentKind.PURCHASE_AGREEMENT) is None

    result = checkout(settings, "documents", "generate", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["generated"] == 1
    app = bootstrap(settings)
    try:
        with app.ctx.uow() as uow:
            order = uow.orders.get(placed.id)
    finally:
        app.close()
    assert order is not None
    assert stored_file(settings, order, DocumentKind.PURCHASE_AGREEMENT).read_bytes().startswith(b"%PDF-")
    assert checkout(settings, "documents", "verify", placed.id).exit_code == 0
    again = checkout(settings, "documents", "generate")
    assert again.exit_code == 0 and "generated 0 agreement(s)" in again.stdout


def test_an_unknown_agreements_mode_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="CHECKOUT_AGREEMENTS must be one of inline, worker"):
        load_settings({"CHECKOUT_AGREEMENTS": "later"})
