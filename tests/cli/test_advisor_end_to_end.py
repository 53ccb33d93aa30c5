"""The advisor's part of the spec's purchase, through the CLI: the customer reserves, orders,
signs and uploads insurance through the core; the advisor takes it from there to completed."""

from __future__ import annotations

from typing import Any

from entrypoints.bootstrap import App
from tests.cli.conftest import Run, out_json, signed_and_insured, spec_order_placed


def test_advisor_takes_the_spec_order_to_completed(run: Run, memory_app: App) -> None:
    order = spec_order_placed(memory_app)
    signed_and_insured(memory_app, order)

    def step(*args: str) -> Any:
        return out_json(run("--as", "adv_sarah", *args, "--json"))

    assert step("insurance", "verify", order.id)["status"] == "pending_payment"
    instructions = step("payments", "instructions", order.id)
    assert (instructions["reference"], instructions["amount"]) == (order.number, 250000)
    paid = step(
        "payments",
        "record-transfer",
        "--reference",
        str(instructions["reference"]),
        "--amount",
        str(instructions["amount"]),
        "--bank-reference",
        "RBC-20251223-0001",
    )
    assert paid["status"] == "pending_delivery"
    assert step("delivery", "schedule", order.id, "--date", "2025-12-28", "--window", "10:00 AM - 2:00 PM")["timeline"][
        -1
    ] == {"event": "Delivery scheduled", "timestamp": "2025-12-28T10:00:00Z", "status": "pending"}
    assert step("delivery", "dispatch", order.id)["status"] == "in_transit"
    assert step("delivery", "deliver", order.id)["status"] == "delivered"
    assert step("orders", "complete", order.id)["status"] == "completed"

    final = step("orders", "show", order.id)
    assert final["status"] == "completed"
    assert final["payment"] == {
        **final["payment"],
        "depositPaid": 10000,
        "downPaymentPaid": 250000,
        "financingAmount": 1734224,
        "monthlyPayment": 32900,
        "balanceDue": 0,
    }
    events = [entry["event"] for entry in final["timeline"]]
    assert events[0] == "Order placed"
    assert events[-1] == "Purchase completed"
    assert {"Documents signed", "Insurance verified", "Payment completed", "Vehicle delivered"} <= set(events)
