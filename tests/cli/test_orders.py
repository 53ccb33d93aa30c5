"""``checkout orders``, ``insurance``, ``delivery`` and ``payments``: happy paths and the main
failures (unknown id → 3, illegal step → 4 naming the current status, bad option → 2)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from adapters.system.clock import FixedClock
from checkout_core.money import Money
from checkout_core.usecases.order_payments import record_bank_transfer
from checkout_core.usecases.order_view import order_details
from checkout_core.usecases.orders import (
    deliver_order,
    dispatch_order,
    schedule_delivery,
    verify_insurance,
)
from checkout_core.usecases.payment_events import EventOutcome, GatewayEvent, handle_gateway_event
from entrypoints.bootstrap import App
from entrypoints.views import order_to_dict
from tests.cli.conftest import (
    DELIVERY_DAY,
    JOHN,
    SARAH,
    Run,
    out_json,
    signed_and_insured,
    spec_order_placed,
    squeeze,
)


def test_list(run: Run, memory_app: App) -> None:
    assert out_json(run("orders", "list", "--json")) == []
    assert run("orders", "list").stdout.strip() == "no orders"
    order = spec_order_placed(memory_app)
    rows = out_json(run("orders", "list", "--json"))
    assert [(o["orderId"], o["status"], o["pricing"]["totalDue"]) for o in rows] == [
        (order.id, "pending_documents", 1994224)
    ]
    assert out_json(run("orders", "list", "--status", "completed", "--json")) == []
    assert len(out_json(run("orders", "list", "--advisor", "adv_sarah", "--json"))) == 1
    assert out_json(run("orders", "list", "--advisor", "adv_tom", "--json")) == []
    table = squeeze(run("orders", "list").stdout)
    assert f"{order.id} {order.number} pending_documents cus_demo veh_abc123 $19,942.24 $2,500.00 adv_sarah" in table
    assert run("orders", "list", "--status", "lost").exit_code == 2


def test_show(run: Run, memory_app: App) -> None:
    order = spec_order_placed(memory_app)
    view = out_json(run("orders", "show", order.id, "--json"))
    assert view == order_to_dict(order_details(memory_app.ctx, JOHN, order.id))
    assert (view["pricing"]["subtotal"], view["pricing"]["taxAmount"], view["pricing"]["totalDue"]) == (
        1764800,
        229424,
        1994224,
    )
    human = squeeze(run("orders", "show", order.id).stdout)
    for expected in (
        f"Order {order.number} ({order.id}): pending_documents",
        "Vehicle: 2021 Honda Civic EX (veh_abc123",
        "Trade-in credit -$8,000.00",
        "HST 13% $2,294.24",
        "Total due $19,942.24",
        "Monthly payment: $329.00 x 60 months",
        "purchase_agreement generated",
        "Advisor: Sarah Johnson (adv_sarah)",
        "2025-12-23T10:30:00Z Order placed completed",
        "sign_documents pending",
    ):
        assert expected in human, expected


def test_show_unknown_is_exit_3(run: Run) -> None:
    result = run("orders", "show", "ord_nope")
    assert result.exit_code == 3
    assert "ord_nope not found" in result.stderr


@pytest.mark.parametrize("command", [["advance"], ["complete"], ["return"]])
def test_illegal_step_is_exit_4_naming_the_status(run: Run, memory_app: App, command: list[str]) -> None:
    order = spec_order_placed(memory_app)
    result = run("orders", *command, order.id)
    assert result.exit_code == 4, result.output
    assert "pending_documents" in result.stderr
    assert result.stdout == ""


def test_advance_says_what_it_waits_for(run: Run, memory_app: App) -> None:
    order = spec_order_placed(memory_app)
    assert "waiting for the buyer's signature" in run("orders", "advance", order.id).stderr


def test_cancel(run: Run, memory_app: App) -> None:
    order = spec_order_placed(memory_app)
    assert run("orders", "cancel", order.id, "--reason", "  ").exit_code == 2
    view = out_json(run("orders", "cancel", order.id, "--reason", "buyer changed their mind", "--json"))
    assert view["status"] == "cancelled"
    assert view["payment"]["refunded"] == 10000  # the deposit went back
    again = run("orders", "cancel", order.id)
    assert again.exit_code == 4
    assert "cancelled" in again.stderr
    assert run("orders", "cancel", "ord_nope").exit_code == 3


def _delivered(app: App) -> str:
    order = spec_order_placed(app, down_payment=Money(0))
    signed_and_insured(app, order)
    verify_insurance(app.ctx, SARAH, order.id)
    schedule_delivery(app.ctx, SARAH, order.id, on=DELIVERY_DAY, time_window="10:00 AM - 2:00 PM")
    dispatch_order(app.ctx, SARAH, order.id)
    deliver_order(app.ctx, SARAH, order.id)
    return order.id


def test_return_inside_the_window(run: Run, memory_app: App) -> None:
    order_id = _delivered(memory_app)
    result = run("orders", "return", order_id)
    assert result.exit_code == 0, result.output
    assert "now returned" in result.stdout


def test_complete_due(run: Run, memory_app: App, clock: FixedClock) -> None:
    order_id = _delivered(memory_app)
    assert out_json(run("orders", "complete-due", "--json"))["completed"] == 0
    clock.advance(timedelta(days=10))
    assert out_json(run("orders", "complete-due", "--json")) == {"completed": 1, "at": "2026-01-02T10:30:00Z"}
    assert out_json(run("orders", "show", order_id, "--json"))["status"] == "completed"
    assert "completed 0 order(s)" in run("orders", "complete-due").stdout
    assert run("orders", "complete-due", "--interval", "-1").exit_code == 2


def test_advance_walks_delivery(run: Run, memory_app: App) -> None:
    order = spec_order_placed(memory_app, down_payment=Money(0))
    signed_and_insured(memory_app, order)
    verify_insurance(memory_app.ctx, SARAH, order.id)
    schedule_delivery(memory_app.ctx, SARAH, order.id, on=DELIVERY_DAY, time_window="10:00 AM - 2:00 PM")
    for expected in ("in_transit", "delivered", "completed"):
        result = run("orders", "advance", order.id)
        assert result.exit_code == 0, result.output
        assert result.stdout.strip().endswith(f"now {expected}")


# -- insurance -------------------------------------------------------------------------------


def test_insurance_verify_and_reject(run: Run, memory_app: App) -> None:
    order = spec_order_placed(memory_app)
    early = run("insurance", "verify", order.id)
    assert early.exit_code == 4
    assert "pending_documents" in early.stderr
    signed_and_insured(memory_app, order)

    assert run("insurance", "reject", order.id).exit_code == 2  # --reason is required
    assert run("insurance", "reject", order.id, "--reason", " ").exit_code == 2
    rejected = out_json(run("insurance", "reject", order.id, "--reason", "policy starts after delivery", "--json"))
    assert rejected["insurance"]["status"] == "rejected"
    assert rejected["insurance"]["rejectionReason"] == "policy starts after delivery"
    assert run("insurance", "verify", order.id).exit_code == 4  # nothing pending verification now
    assert run("insurance", "verify", "ord_nope").exit_code == 3


def test_insurance_verify(run: Run, memory_app: App) -> None:
    order = spec_order_placed(memory_app)
    signed_and_insured(memory_app, order)
    result = run("insurance", "verify", order.id)
    assert result.exit_code == 0
    assert result.stdout.strip() == f"order {order.number} ({order.id}) insurance verified: now pending_payment"


# -- delivery --------------------------------------------------------------------------------


def test_delivery_commands(run: Run, memory_app: App) -> None:
    order = spec_order_placed(memory_app, down_payment=Money(0))
    assert run("delivery", "schedule", order.id, "--date", "28/12/2025", "--window", "10-2").exit_code == 2
    past = run("delivery", "schedule", order.id, "--date", "2025-12-01", "--window", "10:00 AM - 2:00 PM")
    assert past.exit_code == 2
    assert "past" in past.stderr
    unknown = run("delivery", "schedule", "ord_nope", "--date", "2025-12-28", "--window", "10:00 AM - 2:00 PM")
    assert unknown.exit_code == 3
    early = run("delivery", "dispatch", order.id)
    assert early.exit_code == 4
    assert "pending_documents" in early.stderr

    scheduled = out_json(
        run("delivery", "schedule", order.id, "--date", "2025-12-28", "--window", "10:00 AM - 2:00 PM", "--json")
    )
    assert scheduled["delivery"] == {**scheduled["delivery"], "scheduledDate": "2025-12-28", "status": "scheduled"}
    signed_and_insured(memory_app, order)
    verify_insurance(memory_app.ctx, SARAH, order.id)
    assert "now in_transit" in run("delivery", "dispatch", order.id).stdout
    assert "now delivered" in run("delivery", "deliver", order.id).stdout
    again = run("delivery", "deliver", order.id)
    assert again.exit_code == 4
    assert "delivered" in again.stderr


# -- payments --------------------------------------------------------------------------------


def test_payments_instructions_and_transfer(run: Run, memory_app: App) -> None:
    order = spec_order_placed(memory_app)
    data = out_json(run("payments", "instructions", order.id, "--json"))
    assert data == {
        **data,
        "reference": order.number,
        "amount": 250000,
        "currency": "cad",
        "dueDate": "2025-12-26",
        "institutionNumber": "003",
    }
    assert "$2,500.00 CAD" in squeeze(run("payments", "instructions", order.id).stdout)
    assert run("payments", "instructions", "ord_nope").exit_code == 3

    args = ["payments", "record-transfer", "--reference", order.number, "--bank-reference", "WIRE-1"]
    assert run(*args, "--amount", "0").exit_code == 2
    assert run(*args, "--amount", "lots").exit_code == 2
    assert (
        run(
            "payments", "record-transfer", "--reference", "CLT-2025-99999", "--amount", "1", "--bank-reference", "X"
        ).exit_code
        == 3
    )
    recorded = run(*args, "--amount", "250000")
    assert recorded.exit_code == 0
    assert "balance $0.00" in recorded.stdout
    again = out_json(run(*args, "--amount", "250000", "--json"))  # the same bank reference counts once
    assert again["payment"]["totalPaid"] == 260000

    paid = run("payments", "instructions", order.id)
    assert paid.exit_code == 4
    assert "pending_documents" in paid.stderr


def test_payments_refund(run: Run, memory_app: App) -> None:
    order = spec_order_placed(memory_app)
    record_bank_transfer(memory_app.ctx, SARAH, reference=order.number, amount=Money(250000), bank_reference="W-9")
    deposit_id = "pay_000001"  # the deposit charged with tok_visa (SequentialIds)
    first = out_json(run("payments", "refund", deposit_id, "--amount", "2500", "--reason", "goodwill", "--json"))
    assert (first["amount"], first["status"], first["paymentId"]) == (2500, "succeeded", deposit_id)
    retried = out_json(run("payments", "refund", deposit_id, "--amount", "2500", "--reason", "goodwill", "--json"))
    assert retried["refundId"] == first["refundId"]  # re-running the command never refunds twice
    too_much = run("payments", "refund", deposit_id, "--amount", "9000")
    assert too_much.exit_code == 4
    assert "$75.00" in too_much.stderr
    rest = run("payments", "refund", deposit_id)
    assert rest.exit_code == 0
    assert re.search(r"refund rfd_\d+ of \$75\.00", rest.stdout)
    transfer = run("payments", "refund", "pay_000002", "--amount", "1000", "--json")
    assert out_json(transfer)["status"] == "pending"  # bank transfers go back by wire
    assert run("payments", "refund", deposit_id, "--amount", "-5").exit_code == 2
    assert run("payments", "refund", "pay_nope").exit_code == 3


def test_bank_transfer_refunds_are_settled_by_treasury(run: Run, memory_app: App) -> None:
    """A bank-transfer refund stays pending until treasury says what happened: sent (the refund
    succeeds, RefundIssued) or returned (it fails and the amount is refundable again)."""
    order = spec_order_placed(memory_app)
    record_bank_transfer(memory_app.ctx, SARAH, reference=order.number, amount=Money(250000), bank_reference="W-9")
    assert run("payments", "bank-refunds").stdout.strip() == "no bank-transfer refund is waiting"
    first = out_json(run("payments", "refund", "pay_000002", "--amount", "1000", "--json"))
    second = out_json(run("payments", "refund", "pay_000002", "--amount", "2000", "--json"))
    waiting = out_json(run("payments", "bank-refunds", "--json"))
    assert [(w["refundId"], w["amount"], w["orderId"]) for w in waiting] == [
        (first["refundId"], 1000, order.id),
        (second["refundId"], 2000, order.id),
    ]
    assert "$10.00" in run("payments", "bank-refunds").stdout

    sent = out_json(
        run("payments", "settle-refund", first["refundId"], "--sent", "--bank-reference", "OUT-1", "--json")
    )
    assert (sent["status"], sent["gatewayRef"]) == ("succeeded", "OUT-1")
    returned = run("payments", "settle-refund", second["refundId"], "--returned", "--bank-reference", "BOUNCE-7")
    assert returned.exit_code == 0 and "failed" in returned.stdout
    assert out_json(run("payments", "bank-refunds", "--json")) == []
    with memory_app.ctx.uow() as uow:
        payment = uow.ledger.get_payment("pay_000002")
        events = [e.name for e in uow.outbox.for_aggregate(order.id)]
    assert payment is not None and payment.refunded == Money(1000)  # the bounced 2000 is refundable again
    assert events.count("RefundIssued") == 1

    again = run("payments", "settle-refund", first["refundId"], "--returned", "--bank-reference", "X")
    assert again.exit_code == 4 and "already succeeded" in again.stderr
    card = out_json(run("payments", "refund", "pay_000001", "--amount", "100", "--json"))
    not_mine = run("payments", "settle-refund", card["refundId"], "--sent", "--bank-reference", "X")
    assert not_mine.exit_code == 4 and "card refund" in not_mine.stderr
    assert run("payments", "settle-refund", "rfd_nope", "--sent", "--bank-reference", "X").exit_code == 3
    assert run("payments", "settle-refund", first["refundId"], "--bank-reference", "X").exit_code == 2
    assert run("payments", "settle-refund", second["refundId"], "--sent", "--bank-reference", " ").exit_code == 2


def test_payments_disputes_lists_chargebacks(run: Run, memory_app: App, clock: FixedClock) -> None:
    assert run("payments", "disputes").stdout.strip() == "no dispute"
    order = spec_order_placed(memory_app)
    with memory_app.ctx.uow() as uow:
        [deposit] = uow.ledger.payments_for(order_id=order.id)
    event = GatewayEvent(
        id="evt_d1",
        type="charge.dispute.created",
        object_ref="dp_1",
        amount=Money(10000),
        status="needs_response",
        created=clock.now(),
        payment_ref=deposit.gateway_ref,
        failure_code="product_not_received",
    )
    assert handle_gateway_event(memory_app.ctx, event) == EventOutcome.DISPUTE_OPENED
    [listed] = out_json(run("payments", "disputes", "--status", "open", "--json"))
    assert (listed["paymentId"], listed["amount"], listed["reason"], listed["status"]) == (
        deposit.id,
        10000,
        "product_not_received",
        "open",
    )
    assert "product_not_received" in run("payments", "disputes").stdout
    assert out_json(run("payments", "disputes", "--status", "lost", "--json")) == []
    assert run("payments", "disputes", "--status", "nope").exit_code == 2
