"""``checkout documents countersign ORDER_ID`` and ``checkout vehicles add|check-vin``."""

from __future__ import annotations

from entrypoints.bootstrap import App
from tests.cli.conftest import Run, out_json, signed_and_insured, spec_order_placed


def test_countersign_executes_a_buyer_signed_agreement(run: Run, memory_app: App) -> None:
    order = spec_order_placed(memory_app)
    early = run("documents", "countersign", order.id)
    assert early.exit_code == 4
    assert "illegal_transition" in early.output

    signed_and_insured(memory_app, order)
    done = run("documents", "countersign", order.id, "--advisor", "adv_tom")
    assert done.exit_code == 0, done.output
    assert f"order {order.number} ({order.id}): agreement countersigned, now executed" in done.output
    audit = out_json(run("documents", "audit", order.id, "--json"))
    items = audit["items"] if isinstance(audit, dict) else audit
    assert items[-1]["action"] == "countersigned"
    assert items[-1]["signerName"] == "Tom Nguyen"

    again = run("documents", "countersign", order.id)
    assert again.exit_code != 0
    assert "executed" in again.output


def test_countersign_json_shows_the_executed_agreement(run: Run, memory_app: App) -> None:
    order = spec_order_placed(memory_app)
    signed_and_insured(memory_app, order)
    body = out_json(run("documents", "countersign", order.id, "--json"))
    assert body["documents"][0]["status"] == "executed"
    assert "Agreement countersigned by the dealer" in [e["event"] for e in body["timeline"]]


def test_check_vin_says_what_is_wrong(run: Run) -> None:
    good = run("vehicles", "check-vin", "1hgcm82633a004352")
    assert good.exit_code == 0
    assert "1HGCM82633A004352: valid" in good.output
    bad = run("vehicles", "check-vin", "2HGFE2F59MH512345")
    assert bad.exit_code == 2
    assert "fails its check digit" in bad.output
    short = run("vehicles", "check-vin", "1DEMO2000112345X")
    assert short.exit_code != 0
    assert "17 characters" in short.output


def test_vehicles_add_checks_the_vin_and_stores_the_agreement_facts(run: Run, memory_app: App) -> None:
    args = [
        "vehicles",
        "add",
        "--id",
        "veh_cli",
        "--year",
        "2003",
        "--make",
        "Honda",
        "--model",
        "Accord",
        "--price-cents",
        "499900",
        "--stock-number",
        "CC-03-777",
        "--warranty",
        "extended",
        "--warranty-detail",
        "12 months",
        "--disclose",
        "taxi_limousine:Toronto taxi 2004-2008",
    ]
    refused = run(*args, "--vin", "1HGCM82633A004353")
    assert refused.exit_code != 0
    assert "check digit" in refused.output
    added = run(*args, "--vin", "1HGCM82633A004352", "--json")
    assert added.exit_code == 0, added.output
    body = out_json(added)
    assert body["vin"] == "1HGCM82633A004352"
    assert body["stockNumber"] == "CC-03-777"
    assert body["soldAsIs"] is True
    assert body["warranty"] == {"kind": "extended", "detail": "12 months"}
    assert body["disclosureChecklist"][2] == {
        "kind": "taxi_limousine",
        "answer": "yes",
        "details": "Toronto taxi 2004-2008",
    }
    with memory_app.ctx.uow() as uow:
        car = uow.vehicles.get("veh_cli")
    assert car is not None and car.stock_number == "CC-03-777"
    unknown = run(*args, "--vin", "1HGCM82633A004352", "--replace", "--disclose", "haunted")
    assert unknown.exit_code == 2
    assert "not a disclosure kind" in unknown.output
