"""``checkout payments reconcile`` and ``checkout documents audit|verify`` on the in-memory app
(the SQLite end-to-end tamper tests are in ``test_documents_sqlite.py``)."""

from __future__ import annotations

import json

import pytest

from adapters.payments.sandbox import SandboxGateway
from checkout_core.errors import PaymentGatewayUnavailable
from checkout_core.money import Money
from checkout_core.usecases.context import Actor
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import App
from entrypoints.cli import output
from tests.cli.conftest import Run, out_json, signed_and_insured, spec_order_placed, squeeze

DAY = ["--since", "2025-12-23", "--until", "2025-12-23"]


def sandbox(app: App) -> SandboxGateway:
    gateway = app.ctx.gateway
    assert isinstance(gateway, SandboxGateway)
    return gateway


def inject_discrepancies(app: App) -> str:
    """One of each kind the sandbox can produce; returns the dashboard charge's ref.

    * a charge made directly at the gateway (the dashboard), no ledger row: missing in our ledger;
    * a deposit whose answer was lost (ours pending, the gateway's succeeded): status mismatch;
    * a deposit the gateway never received (ours pending, nothing there): missing at the gateway."""
    dashboard = sandbox(app).charge(
        amount=Money(4200), source="tok_visa", idempotency_key="dashboard-1", description="manual", metadata={}
    )
    sandbox(app).fail_after_charge = 1
    with pytest.raises(PaymentGatewayUnavailable):
        reserve_vehicle(app.ctx, Actor("cus_lost_answer"), vehicle_id="veh_demo003", payment_token="tok_visa")
    sandbox(app).fail_next = 1
    with pytest.raises(PaymentGatewayUnavailable):
        reserve_vehicle(app.ctx, Actor("cus_never_charged"), vehicle_id="veh_demo004", payment_token="tok_visa")
    return dashboard.ref


def test_a_clean_period_exits_0(run: Run, memory_app: App) -> None:
    spec_order_placed(memory_app)  # its deposit charge is on both sides

    result = run("payments", "reconcile", *DAY)

    assert result.exit_code == 0, result.output
    text = squeeze(result.stdout)
    assert "Reconciliation of 2025-12-23 to 2025-12-23 (UTC) against the sandbox gateway" in text
    assert "Matched 1" in text
    assert "Missing in our ledger 0" in text
    assert "Result: clean — all 1 records matched." in text


def test_discrepancies_are_listed_and_exit_1(run: Run, memory_app: App) -> None:
    spec_order_placed(memory_app)
    dashboard_ref = inject_discrepancies(memory_app)

    result = run("payments", "reconcile", *DAY)

    assert result.exit_code == 1, result.output
    text = squeeze(result.stdout)
    assert "Missing in our ledger 1" in text
    assert "Missing at the gateway 1" in text
    assert "Status mismatch 1" in text
    assert "Missing in our ledger (the gateway has it, we do not):" in text
    assert f"charge {dashboard_ref} $42.00 succeeded" in text
    assert "Result: 3 discrepancies to explain." in text


def test_json_has_each_bucket_with_its_count_and_items(run: Run, memory_app: App) -> None:
    spec_order_placed(memory_app)
    dashboard_ref = inject_discrepancies(memory_app)

    result = run("payments", "reconcile", *DAY, "--json")

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["since"], report["until"], report["gateway"], report["clean"]) == (
        "2025-12-23T00:00:00Z",
        "2025-12-24T00:00:00Z",
        "sandbox",
        False,
    )
    counts = {name: bucket["count"] for name, bucket in report["buckets"].items()}
    assert counts == {
        "matched": 1,
        "missingInLedger": 1,
        "missingAtGateway": 1,
        "amountMismatch": 0,
        "statusMismatch": 1,
    }
    [outside] = report["buckets"]["missingInLedger"]["items"]
    assert (outside["ref"], outside["amount"], outside["currency"], outside["ledgerId"]) == (
        dashboard_ref,
        4200,
        "cad",
        None,
    )
    [lost] = report["buckets"]["statusMismatch"]["items"]
    assert (lost["ledger"]["status"], lost["gateway"]["status"], lost["matchedBy"]) == (
        "pending",
        "succeeded",
        "idempotencyKey",
    )
    [never] = report["buckets"]["missingAtGateway"]["items"]
    assert (never["status"], never["gatewayRef"]) == ("pending", None)


def test_another_period_sees_nothing(run: Run, memory_app: App) -> None:
    spec_order_placed(memory_app)
    inject_discrepancies(memory_app)
    report = out_json(run("payments", "reconcile", "--since", "2025-11-01", "--until", "2025-11-30", "--json"))
    assert report["clean"] is True
    assert all(bucket["count"] == 0 for bucket in report["buckets"].values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2025-12-24", "--until", "2025-12-23"], "before it starts"),
        (["--since", "23/12/2025", "--until", "2025-12-23"], "'23/12/2025' does not match the format"),
        (["--since", "2025-12-01"], "Missing option '--until'"),
        # Out of range: the day after 9999-12-31 is no date (an OverflowError and exit 1 before).
        (["--since", "2025-12-01", "--until", "9999-12-31"], "[validation_error]: 9999-12-31 is out of range"),
        (["--since", "0001-01-01", "--until", "2025-12-01"], "[validation_error]: 0001-01-01 is out of range"),
    ],
)
def test_bad_dates_exit_2(run: Run, args: list[str], message: str) -> None:
    result = run("payments", "reconcile", *args)
    assert result.exit_code == 2, (result.exception, result.output)
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_a_progress_bar_is_drawn_on_stderr_when_interactive(
    run: Run, memory_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec_order_placed(memory_app)
    monkeypatch.setattr(output, "interactive", lambda: True)

    result = run("payments", "reconcile", *DAY, "--json")

    assert result.exit_code == 0, result.output
    # The bar is created on the first progress report (click draws only its label when the
    # stream is not a terminal): the use case's on_progress reached it.
    assert "Reconciling" in result.stderr
    assert out_json(result)["clean"] is True  # stdout is still pure JSON


def test_no_progress_bar_when_nobody_watches(run: Run, memory_app: App) -> None:
    spec_order_placed(memory_app)
    result = run("payments", "reconcile", *DAY)
    assert result.exit_code == 0
    assert result.stderr == ""


def test_documents_audit_lists_the_trail(run: Run, memory_app: App) -> None:
    order = spec_order_placed(memory_app)
    signed_and_insured(memory_app, order)

    table = squeeze(run("documents", "audit", order.id).stdout)
    assert "# Action At Signer IP address User agent Document Entry hash" in table
    assert "0 created 2025-12-23T10:30:00Z john@example.com" in table
    assert "3 signed 2025-12-23T10:30:00Z john@example.com 127.0.0.1 pytest" in table

    trail = out_json(run("documents", "audit", order.id, "--json"))
    assert trail["orderId"] == order.id
    assert [e["action"] for e in trail["items"]] == ["created", "sent", "consented", "signed"]
    assert trail["items"][3]["ipAddress"] == "127.0.0.1"


def test_documents_audit_of_an_order_not_yet_sent_for_signing(run: Run, memory_app: App) -> None:
    order = spec_order_placed(memory_app)
    result = run("documents", "audit", order.id)
    assert result.exit_code == 0
    assert "no signing activity yet" in result.stdout


def test_documents_verify_an_intact_order_exits_0(run: Run, memory_app: App) -> None:
    order = spec_order_placed(memory_app)
    signed_and_insured(memory_app, order)

    result = run("documents", "verify", order.id)

    assert result.exit_code == 0, result.output
    assert f"order {order.id}: intact — 4 audit entries, 3 documents, 0 problems" in result.stdout
    report = out_json(run("documents", "verify", order.id, "--json"))
    assert report == {
        "orderId": order.id,
        "ok": True,
        "entries": 4,
        "documents": 3,
        "chainProblems": [],
        "documentProblems": [],
        # The in-memory stand-in does not seal its copies: nothing to check, nothing wrong.
        "seals": [
            {
                "documentId": report["seals"][0]["documentId"],
                "level": "none",
                "ok": True,
                "signer": "",
                "timestamp": None,
                "problem": "",
            }
        ],
    }


def test_documents_of_an_unknown_order_exit_3(run: Run) -> None:
    for command in ("verify", "audit"):
        result = run("documents", command, "ord_nope")
        assert result.exit_code == 3, command
        assert "not_found" in result.stderr


def test_documents_sync_signatures_with_the_built_in_signer_has_nothing_to_ask(run: Run, memory_app: App) -> None:
    spec_order_placed(memory_app)
    result = run("documents", "sync-signatures")
    assert result.exit_code == 0
    assert result.stdout.strip() == "asked about 0 open envelope(s): 0 signed, 0 declined"
    assert out_json(run("documents", "sync-signatures", "--json")) == {
        "asked": 0,
        "signed": 0,
        "declined": 0,
        "unavailable": 0,
    }
    assert run("documents", "sync-signatures", "--limit", "0").exit_code == 2
