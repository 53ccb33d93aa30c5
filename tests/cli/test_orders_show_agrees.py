"""``orders show`` renders the core's values itself; its readable summary and ``--json`` must
still say the same things at every stage of the purchase."""

from __future__ import annotations

from typing import Any

from entrypoints.bootstrap import App
from tests.cli.conftest import Run, out_json, signed_and_insured, spec_order_placed, squeeze


def _agree(run: Run, order_id: str) -> dict[str, Any]:
    view = out_json(run("--as", "adv_sarah", "orders", "show", order_id, "--json"))
    human = squeeze(run("--as", "adv_sarah", "orders", "show", order_id).stdout)
    assert f"({view['orderId']}): {view['status']}" in human
    for entry in view["timeline"]:
        assert f"{entry['timestamp']} {entry['event']} {entry['status']}" in human, entry
    for step in view["nextSteps"]:
        assert f"{step['step']} {step['status']}" in human, step
    for document in view["documents"]:
        assert f"{document['type']} {document['status']} {document['signedAt'] or '-'}" in human, document
    payment = view["payment"]
    for label, cents in (("Deposit paid", "depositPaid"), ("Paid", "totalPaid"), ("Balance due", "balanceDue")):
        assert f"{label}: ${payment[cents] / 100:,.2f}" in human, label
    delivery = view["delivery"]
    assert f"Status: {delivery['status']}" in human
    if delivery["scheduledDate"]:
        assert f"Scheduled: {delivery['scheduledDate']} {delivery['timeWindow']}" in human
    return view


def test_show_and_json_agree_from_placing_to_completion(run: Run, memory_app: App) -> None:
    order = spec_order_placed(memory_app)
    _agree(run, order.id)
    signed_and_insured(memory_app, order)
    _agree(run, order.id)
    run("--as", "adv_sarah", "insurance", "verify", order.id)
    instructions = out_json(run("--as", "adv_sarah", "payments", "instructions", order.id, "--json"))
    run(
        "--as",
        "adv_sarah",
        "payments",
        "record-transfer",
        "--reference",
        str(instructions["reference"]),
        "--amount",
        str(instructions["amount"]),
        "--bank-reference",
        "RBC-1",
    )
    run("--as", "adv_sarah", "delivery", "schedule", order.id, "--date", "2025-12-28", "--window", "10:00 AM - 2:00 PM")
    scheduled = _agree(run, order.id)
    assert scheduled["timeline"][-1]["status"] == "pending"  # the appointment ahead is shown too
    run("--as", "adv_sarah", "delivery", "dispatch", order.id)
    run("--as", "adv_sarah", "delivery", "deliver", order.id)
    run("--as", "adv_sarah", "orders", "complete", order.id)
    assert _agree(run, order.id)["status"] == "completed"
