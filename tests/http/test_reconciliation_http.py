"""``GET /api/v1/payments/reconciliation?since&until``: advisors only, the report's buckets with
their counts and items, 400 for bad dates."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.payments.sandbox import SandboxGateway
from checkout_core.money import Money
from entrypoints.bootstrap import App
from tests.http.conftest import new_key, place_spec_order

Client = TestClient[Litestar]
URL = "/api/v1/payments/reconciliation"
DAY = {"since": "2025-12-23", "until": "2025-12-23"}


def sandbox(app: App) -> SandboxGateway:
    gateway = app.ctx.gateway
    assert isinstance(gateway, SandboxGateway)
    return gateway


def report(client: Client, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = client.get(URL, params=params or DAY, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def counts(body: dict[str, Any]) -> dict[str, int]:
    return {name: bucket["count"] for name, bucket in body["buckets"].items()}


def test_a_clean_day(client: Client, customer: dict[str, str], advisor: dict[str, str]) -> None:
    order = place_spec_order(client, customer)

    body = report(client, advisor)

    assert (body["since"], body["until"], body["gateway"], body["clean"]) == (
        "2025-12-23T00:00:00Z",
        "2025-12-24T00:00:00Z",
        "sandbox",
        True,
    )
    assert counts(body) == {
        "matched": 1,
        "missingInLedger": 0,
        "missingAtGateway": 0,
        "amountMismatch": 0,
        "statusMismatch": 0,
    }
    [pair] = body["buckets"]["matched"]["items"]
    assert pair["matchedBy"] == "gatewayRef"
    assert pair["ledger"]["kind"] == pair["gateway"]["kind"] == "charge"
    assert pair["ledger"]["amount"] == pair["gateway"]["amount"] == 10000
    deposit = client.get(f"/api/v1/reservations/{order['reservationId']}", headers=customer).json()
    assert pair["gateway"]["ref"] == deposit["depositCharge"]["id"]


def test_discrepancies_injected_on_each_side(
    client: Client, core: App, customer: dict[str, str], advisor: dict[str, str]
) -> None:
    place_spec_order(client, customer)
    # The gateway only: a charge made in its dashboard.
    dashboard = sandbox(core).charge(
        amount=Money(7700), source="tok_visa", idempotency_key="dashboard-http", description="manual", metadata={}
    )
    # Ours only: a deposit whose charge never reached the gateway (the call failed before it).
    sandbox(core).fail_next = 1
    failed = client.post(
        "/api/v1/reservations",
        json={"vehicleId": "veh_demo002", "paymentMethod": {"type": "card", "token": "tok_visa"}},
        headers={**advisor, "Idempotency-Key": new_key()},  # another buyer (the demo one holds a car)
    )
    assert failed.status_code == 503
    # Both, with another amount: our ledger row altered behind the application's back.
    with core.ctx.uow() as uow:
        [reservation] = [r for r in uow.reservations.list(customer_id="cus_demo") if r.order_id]
        [deposit] = uow.ledger.payments_for(reservation_id=reservation.id)
        deposit.amount = Money(9900)
        uow.ledger.save_payment(deposit)
        uow.commit()

    body = report(client, advisor)

    assert body["clean"] is False
    assert counts(body) == {
        "matched": 0,
        "missingInLedger": 1,
        "missingAtGateway": 1,
        "amountMismatch": 1,
        "statusMismatch": 0,
    }
    [outside] = body["buckets"]["missingInLedger"]["items"]
    assert (outside["ref"], outside["amount"], outside["status"]) == (dashboard.ref, 7700, "succeeded")
    [ours] = body["buckets"]["missingAtGateway"]["items"]
    assert (ours["status"], ours["gatewayRef"], ours["amount"]) == ("pending", None, 10000)
    [mismatch] = body["buckets"]["amountMismatch"]["items"]
    assert (mismatch["ledger"]["amount"], mismatch["gateway"]["amount"]) == (9900, 10000)


def test_customers_may_not_reconcile(client: Client, customer: dict[str, str]) -> None:
    response = client.get(URL, params=DAY, headers=customer)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    assert client.get(URL, params=DAY).status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2025-12-24", "until": "2025-12-23"}, "until"),
        ({"since": "2025-13-01", "until": "2025-12-23"}, "since"),
        ({"since": "yesterday", "until": "2025-12-23"}, "since"),
        ({"since": "2025-12-01"}, None),  # missing: Litestar names it in the detail
        ({}, None),
    ],
)
def test_bad_dates_are_400(client: Client, advisor: dict[str, str], params: dict[str, str], field: str | None) -> None:
    response = client.get(URL, params=params, headers=advisor)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation_error"
    if field is not None:
        assert problem["field"] == field
