"""Money over HTTP when answers are lost, late or doubled: the money rule seen by a client.

Each test drives the real Litestar app on the in-memory core, with the sandbox behind a thin
wrapper (:class:`ScriptedGateway`) that can run something between the charge and its answer —
the gateway's own webhook, the recovery job — or lose the answer after the money moved:

a. a declined deposit is 402 ``payment_declined`` whoever recorded the decline first (the
   ``payment_intent.payment_failed`` webhook, the recovery job), also on a retry;
b. a retry with the same ``Idempotency-Key`` after a lost deposit answer is the same reservation,
   confirmed, with one charge at the gateway (with or without the webhook in between);
c. a card payment of the balance whose answer was lost (or whose process died after the charge)
   is resumed by the retry or settled by the recovery job: one charge, counted once;
d. a bank transfer above the balance, or after the order was cancelled, is recorded and the
   money the order does not want is a pending bank refund;
e. a second charge for one ledger row, reported by a signed webhook, is refunded on its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.payments.sandbox import SandboxGateway
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.errors import PaymentGatewayUnavailable, RefundNotAllowed
from checkout_core.model.order import Order, OrderStatus
from checkout_core.model.payments import Payment, PaymentMethod, PaymentPurpose, PaymentStatus, RefundStatus
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.money import Money
from checkout_core.ports.payments import ChargeResult, GatewayRecord, RefundResult
from checkout_core.usecases.orders import verify_insurance
from checkout_core.usecases.payment_events import GatewayEvent, handle_gateway_event
from checkout_core.usecases.recovery import RecoveryReport, recover_payments
from checkout_core.usecases.refunds import pending_bank_refunds
from entrypoints.bootstrap import App, bootstrap_in_memory
from entrypoints.settings import Settings
from tests.cli.conftest import SARAH, signed_and_insured, spec_order_placed
from tests.http.conftest import new_key
from tests.http.test_webhooks_stripe import JWT_SECRET, SECRET, deliver, intent, stripe_event

Client = TestClient[Litestar]

#: The spec's order (financed, $2,500 down) once its insurance is verified: what is due by then.
BALANCE = 250_000
DEPOSIT = 10_000
_EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
_core_event_ids = itertools.count(1)

AfterCharge = Callable[[ChargeResult, Mapping[str, str]], None]


class ScriptedGateway:
    """The sandbox, with two scripted faults between a charge and its answer:

    - ``after_charge``: run once, after the sandbox made the charge and before its answer is
      returned (a webhook or the recovery job that beats the slow request);
    - ``lose_answers``: that many charges are made and then ``lost_with`` is raised instead of the
      answer (a timeout, a connection reset, the process killed)."""

    name = "sandbox"

    def __init__(self, clock: FixedClock) -> None:
        self.inner = SandboxGateway(clock)
        self.after_charge: AfterCharge | None = None
        self.lose_answers = 0
        self.lost_with: Exception = PaymentGatewayUnavailable("connection reset after the charge was made")

    def charge(
        self, *, amount: Money, source: str, idempotency_key: str, description: str, metadata: Mapping[str, str]
    ) -> ChargeResult:
        """Charge in the sandbox, then run the script."""
        result = self.inner.charge(
            amount=amount, source=source, idempotency_key=idempotency_key, description=description, metadata=metadata
        )
        hook, self.after_charge = self.after_charge, None
        if hook is not None:
            hook(result, metadata)
        if self.lose_answers > 0:
            self.lose_answers -= 1
            raise self.lost_with
        return result

    def find_charge(self, *, idempotency_key: str, ledger_id: str) -> ChargeResult | None:
        """Delegated."""
        return self.inner.find_charge(idempotency_key=idempotency_key, ledger_id=ledger_id)

    def refund(self, *, charge_ref: str, amount: Money, idempotency_key: str, reason: str) -> RefundResult:
        """Delegated."""
        return self.inner.refund(charge_ref=charge_ref, amount=amount, idempotency_key=idempotency_key, reason=reason)

    def get_refund(self, refund_ref: str) -> RefundResult:
        """Delegated."""
        return self.inner.get_refund(refund_ref)

    def activity(self, since: datetime, until: datetime) -> Iterable[GatewayRecord]:
        """Delegated."""
        return self.inner.activity(since, until)

    def records(self, kind: str) -> list[GatewayRecord]:
        """Every charge (or refund) the sandbox ever made."""
        return [r for r in self.inner.activity(*_EVER) if r.kind == kind]


@pytest.fixture
def gateway(clock: FixedClock) -> ScriptedGateway:
    """The scripted sandbox."""
    return ScriptedGateway(clock)


@pytest.fixture
def core(clock: FixedClock, gateway: ScriptedGateway) -> Iterator[App]:
    """The in-memory app with the demo data, charging through ``gateway``, Stripe webhooks on."""
    app = bootstrap_in_memory(
        clock=clock,
        ids=SequentialIds(),
        gateway=gateway,
        settings=Settings(stripe_webhook_secret=SECRET, jwt_secret=JWT_SECRET),
    )
    load_demo(app.ctx.uow)
    yield app
    app.close()


# -- helpers ---------------------------------------------------------------------------------------


def _reserve(client: Client, headers: dict[str, str], key: str, card: str = "tok_visa") -> Any:
    return client.post(
        "/api/v1/reservations",
        json={"vehicleId": "veh_abc123", "paymentMethod": {"type": "card", "token": card}},
        headers={**headers, "Idempotency-Key": key},
    )


def _pay(client: Client, headers: dict[str, str], order_id: str, key: str) -> Any:
    return client.post(
        f"/api/v1/orders/{order_id}/payments/card",
        json={"token": "tok_visa"},
        headers={**headers, "Idempotency-Key": key},
    )


def _transfer(client: Client, headers: dict[str, str], order: Order, cents: int, bank_reference: str) -> Any:
    return client.post(
        "/api/v1/payments/bank-transfers",
        json={"reference": order.number, "amount": cents, "bankReference": bank_reference},
        headers={**headers, "Idempotency-Key": new_key()},
    )


def _assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert (problem["status"], problem["code"]) == (status, code)
    return problem


def _only_reservation(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    listed = client.get("/api/v1/reservations", headers=headers)
    assert listed.status_code == 200, listed.text
    [reservation] = listed.json()["items"]
    return dict(reservation)


def _order_view(client: Client, headers: dict[str, str], order_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/orders/{order_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _paid_view(client: Client, headers: dict[str, str], order_id: str) -> tuple[str, int, int]:
    body = _order_view(client, headers, order_id)
    return body["status"], body["payment"]["totalPaid"], body["payment"]["balanceDue"]


def _pending_payment_order(app: App) -> Order:
    """The spec's order placed by cus_demo, signed, insured and verified: BALANCE due."""
    order = spec_order_placed(app)
    signed_and_insured(app, order)
    verified = verify_insurance(app.ctx, SARAH, order.id)
    assert (verified.status, verified.balance_due) == (OrderStatus.PENDING_PAYMENT, Money(BALANCE))
    return verified


def _card_charges_for(gateway: ScriptedGateway, order_id: str) -> list[GatewayRecord]:
    """The sandbox's charges of an order's balance (gateway key ``<order>:card:<operation>``)."""
    return [r for r in gateway.records("charge") if (r.idempotency_key or "").startswith(f"{order_id}:card:")]


def _deposit_of(app: App, reservation_id: str) -> Payment:
    with app.ctx.uow() as uow:
        [deposit] = uow.ledger.payments_for(reservation_id=reservation_id)
    return deposit


def _order_payments(app: App, order_id: str) -> list[Payment]:
    with app.ctx.uow() as uow:
        return list(uow.ledger.payments_for(order_id=order_id))


def _payment(app: App, payment_id: str) -> Payment:
    with app.ctx.uow() as uow:
        payment = uow.ledger.get_payment(payment_id)
    assert payment is not None
    return payment


def _vehicle_status(app: App, vehicle_id: str) -> VehicleStatus:
    with app.ctx.uow() as uow:
        vehicle = uow.vehicles.get(vehicle_id)
    assert vehicle is not None
    return vehicle.status


def _failed_event(app: App, charge: ChargeResult, metadata: Mapping[str, str]) -> GatewayEvent:
    """The ``payment_intent.payment_failed`` event Stripe sends about a declined charge."""
    return GatewayEvent(
        id=f"evt_declined{next(_core_event_ids):04d}",
        type="payment_intent.payment_failed",
        object_ref=charge.ref,
        amount=charge.amount,
        status="requires_payment_method",
        created=app.ctx.clock.now(),
        metadata={"ledger_id": metadata["ledger_id"]},
        payment_ref=charge.ref,
        failure_code=charge.decline_code,
    )


def _past_the_grace(app: App, clock: FixedClock) -> None:
    clock.advance(app.ctx.policy.recovery_grace + timedelta(seconds=1))


NOTHING = RecoveryReport(deposits_settled=0, card_payments_settled=0, refunds_opened=0, refunds_settled=0)


# == a. a declined deposit is always 402 ===========================================================


def test_a_decline_the_webhook_recorded_first_is_402_and_so_is_the_retry(
    client: Client, core: App, gateway: ScriptedGateway, customer: dict[str, str]
) -> None:
    outcomes: list[str] = []
    gateway.after_charge = lambda charge, metadata: outcomes.append(
        handle_gateway_event(core.ctx, _failed_event(core, charge, metadata))
    )
    key = new_key()

    first = _reserve(client, customer, key, "tok_chargeDeclined")

    assert outcomes == ["payment_failed"]  # the webhook recorded the decline before the answer came
    problem = _assert_problem(first, 402, "payment_declined")
    assert problem["declineCode"] == "generic_decline"
    again = _reserve(client, customer, key, "tok_chargeDeclined")
    _assert_problem(again, 402, "payment_declined")
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert _only_reservation(client, customer)["status"] == "failed"
    assert _vehicle_status(core, "veh_abc123") is VehicleStatus.AVAILABLE
    assert [r.status for r in gateway.records("charge")] == ["failed"]


def test_a_decline_the_recovery_job_recorded_first_is_402(
    client: Client, core: App, gateway: ScriptedGateway, customer: dict[str, str], clock: FixedClock
) -> None:
    reports: list[RecoveryReport] = []

    def recovery_first(charge: ChargeResult, metadata: Mapping[str, str]) -> None:
        _past_the_grace(core, clock)  # the request is slow: the job takes the intent as stale
        reports.append(recover_payments(core.ctx))

    gateway.after_charge = recovery_first
    key = new_key()

    first = _reserve(client, customer, key, "tok_chargeDeclined")

    assert [r.deposits_settled for r in reports] == [1]
    assert _assert_problem(first, 402, "payment_declined")["declineCode"] == "generic_decline"
    again = _reserve(client, customer, key, "tok_chargeDeclined")
    _assert_problem(again, 402, "payment_declined")
    assert again.headers["idempotent-replayed"] == "true"
    assert _only_reservation(client, customer)["status"] == "failed"
    assert _vehicle_status(core, "veh_abc123") is VehicleStatus.AVAILABLE
    assert len(gateway.records("charge")) == 1


def test_a_decline_whose_answer_was_lost_and_that_recovery_settled_is_402_on_the_retry(
    client: Client, core: App, gateway: ScriptedGateway, customer: dict[str, str], clock: FixedClock
) -> None:
    gateway.lose_answers = 1
    key = new_key()
    lost = _reserve(client, customer, key, "tok_chargeDeclined")
    _assert_problem(lost, 503, "payment_gateway_unavailable")
    assert _only_reservation(client, customer)["status"] == "pending_deposit"

    _past_the_grace(core, clock)
    assert recover_payments(core.ctx).deposits_settled == 1

    retried = _reserve(client, customer, key, "tok_chargeDeclined")
    _assert_problem(retried, 402, "payment_declined")
    assert "idempotent-replayed" not in retried.headers  # the 503 released the key: it ran again
    replayed = _reserve(client, customer, key, "tok_chargeDeclined")
    _assert_problem(replayed, 402, "payment_declined")
    assert replayed.headers["idempotent-replayed"] == "true"
    assert _only_reservation(client, customer)["status"] == "failed"
    assert len(gateway.records("charge")) == 1


# == b. a retry after a lost deposit answer ========================================================


@pytest.mark.parametrize("webhook", [pytest.param(True, id="webhook-meanwhile"), pytest.param(False, id="no-webhook")])
def test_a_retry_after_a_lost_deposit_answer_is_the_same_confirmed_reservation(
    client: Client, core: App, gateway: ScriptedGateway, customer: dict[str, str], webhook: bool
) -> None:
    gateway.lose_answers = 1
    key = new_key()
    lost = _reserve(client, customer, key)
    _assert_problem(lost, 503, "payment_gateway_unavailable")
    pending = _only_reservation(client, customer)
    assert pending["status"] == "pending_deposit"
    if webhook:
        deposit = _deposit_of(core, pending["reservationId"])
        charge = gateway.inner.find_charge(idempotency_key=deposit.idempotency_key, ledger_id=deposit.id)
        assert charge is not None
        confirmed = deliver(client, stripe_event("payment_intent.succeeded", intent(charge, deposit)))
        assert confirmed.json() == {"received": True, "outcome": "payment_succeeded"}
        assert _only_reservation(client, customer)["status"] == "confirmed"

    retried = _reserve(client, customer, key)

    assert retried.status_code == 201, retried.text
    body = retried.json()
    assert (body["reservationId"], body["status"]) == (pending["reservationId"], "confirmed")
    assert body["depositCharge"]["status"] == "succeeded"
    assert [(r.kind, r.status, r.amount) for r in gateway.records("charge")] == [
        ("charge", "succeeded", Money(DEPOSIT))
    ]
    assert body["depositCharge"]["id"] == gateway.records("charge")[0].ref
    assert _only_reservation(client, customer)["reservationId"] == pending["reservationId"]
    replay = _reserve(client, customer, key)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == retried.content
    assert len(gateway.records("charge")) == 1


# == c. a card payment of the balance whose answer was lost ========================================


def test_a_retry_after_a_lost_card_answer_pays_once_and_a_new_payment_is_refused(
    client: Client, core: App, gateway: ScriptedGateway, customer: dict[str, str]
) -> None:
    order = _pending_payment_order(core)
    gateway.lose_answers = 1
    key = new_key()

    lost = _pay(client, customer, order.id, key)
    _assert_problem(lost, 503, "payment_gateway_unavailable")
    assert len(_card_charges_for(gateway, order.id)) == 1  # the money moved; only the answer is lost
    assert _paid_view(client, customer, order.id) == ("pending_payment", DEPOSIT, BALANCE)

    retried = _pay(client, customer, order.id, key)

    assert retried.status_code in (200, 201), retried.text
    paid = retried.json()
    assert (paid["status"], paid["amount"], paid["orderId"]) == ("succeeded", BALANCE, order.id)
    [charge] = _card_charges_for(gateway, order.id)
    assert (charge.status, charge.amount, charge.ledger_id) == ("succeeded", Money(BALANCE), paid["paymentId"])
    assert _paid_view(client, customer, order.id) == ("pending_delivery", DEPOSIT + BALANCE, 0)
    payments = [p for p in _order_payments(core, order.id) if p.purpose is PaymentPurpose.ORDER]
    assert [(p.id, p.status) for p in payments] == [(paid["paymentId"], PaymentStatus.SUCCEEDED)]

    replay = _pay(client, customer, order.id, key)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == retried.content

    another = _pay(client, customer, order.id, new_key())  # nothing is due any more
    assert 400 <= another.status_code < 500, another.text
    assert another.json()["code"] in ("illegal_transition", "validation_error")
    assert len(_card_charges_for(gateway, order.id)) == 1
    assert _paid_view(client, customer, order.id) == ("pending_delivery", DEPOSIT + BALANCE, 0)


def test_a_card_payment_killed_after_the_charge_is_credited_once_by_recovery(
    client: Client, core: App, gateway: ScriptedGateway, customer: dict[str, str], clock: FixedClock
) -> None:
    order = _pending_payment_order(core)
    gateway.lose_answers = 1
    gateway.lost_with = RuntimeError("the process was killed between the charge and the record")
    key = new_key()

    crashed = _pay(client, customer, order.id, key)
    _assert_problem(crashed, 500, "internal_error")
    [pending] = [p for p in _order_payments(core, order.id) if p.purpose is PaymentPurpose.ORDER]
    assert pending.status is PaymentStatus.PENDING
    assert recover_payments(core.ctx) == NOTHING  # still inside the grace: the request may be alive

    _past_the_grace(core, clock)
    report = recover_payments(core.ctx)

    assert report == RecoveryReport(deposits_settled=0, card_payments_settled=1, refunds_opened=0, refunds_settled=0)
    assert _paid_view(client, customer, order.id) == ("pending_delivery", DEPOSIT + BALANCE, 0)
    assert _payment(core, pending.id).status is PaymentStatus.SUCCEEDED
    assert recover_payments(core.ctx) == NOTHING
    retried = _pay(client, customer, order.id, key)  # the buyer's retry: answered, not charged again
    assert retried.status_code in (200, 201), retried.text
    assert (retried.json()["paymentId"], retried.json()["status"]) == (pending.id, "succeeded")
    assert len(_card_charges_for(gateway, order.id)) == 1
    assert _paid_view(client, customer, order.id) == ("pending_delivery", DEPOSIT + BALANCE, 0)


# == d. bank transfers above the balance or after cancellation =====================================


def test_a_transfer_above_the_balance_is_recorded_and_the_excess_is_a_pending_bank_refund(
    client: Client, core: App, customer: dict[str, str], advisor: dict[str, str]
) -> None:
    order = _pending_payment_order(core)
    excess = 12_345

    response = _transfer(client, advisor, order, BALANCE + excess, "W-OVER-1")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "pending_delivery"
    assert (body["payment"]["totalPaid"], body["payment"]["balanceDue"]) == (DEPOSIT + BALANCE + excess, 0)
    [(refund, paid_by)] = pending_bank_refunds(core.ctx)
    assert (refund.amount, refund.reason, refund.status) == (Money(excess), "overpayment", RefundStatus.PENDING)
    assert (paid_by.method, paid_by.order_id, paid_by.gateway_ref) == (
        PaymentMethod.BANK_TRANSFER,
        order.id,
        "W-OVER-1",
    )
    assert paid_by.amount == Money(BALANCE + excess)  # recorded in full

    again = _transfer(client, advisor, order, BALANCE + excess, "W-OVER-1")  # the same wire, recorded twice
    assert again.status_code == 200, again.text
    assert [r.id for r, _ in pending_bank_refunds(core.ctx)] == [refund.id]
    assert _paid_view(client, customer, order.id)[1:] == (DEPOSIT + BALANCE + excess, 0)


def test_a_transfer_after_the_order_was_cancelled_is_recorded_and_refunded_in_full(
    client: Client, core: App, customer: dict[str, str], advisor: dict[str, str]
) -> None:
    order = _pending_payment_order(core)
    cancelled = client.post(f"/api/v1/orders/{order.id}/cancel", headers=customer)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"

    response = _transfer(client, advisor, order, BALANCE, "W-LATE-1")

    assert 200 <= response.status_code < 300, response.text
    assert response.json()["status"] == "cancelled"
    [(refund, paid_by)] = pending_bank_refunds(core.ctx)
    assert (refund.amount, refund.reason, refund.status) == (Money(BALANCE), "order_closed", RefundStatus.PENDING)
    assert (paid_by.method, paid_by.order_id, paid_by.amount, paid_by.status) == (
        PaymentMethod.BANK_TRANSFER,
        order.id,
        Money(BALANCE),
        PaymentStatus.SUCCEEDED,
    )


# == e. a second charge for one ledger row =========================================================


def test_a_second_charge_for_one_payment_is_refunded_and_shown_on_the_timeline(
    client: Client, core: App, gateway: ScriptedGateway, customer: dict[str, str]
) -> None:
    order = _pending_payment_order(core)
    paid = _pay(client, customer, order.id, new_key())
    assert paid.status_code == 201, paid.text
    payment = _payment(core, paid.json()["paymentId"])
    before = _order_view(client, customer, order.id)["payment"]
    # The same payment charged a second time under another key (a retry Stripe did not deduplicate,
    # e.g. after its 24-hour key window): its PaymentIntent carries our ledger id.
    second = gateway.inner.charge(
        amount=payment.amount,
        source="tok_visa",
        idempotency_key="a-key-that-is-not-ours",
        description=f"Payment for order {order.number}",
        metadata={"order_id": order.id, "ledger_id": payment.id},
    )
    assert second.ref != payment.gateway_ref
    event = {
        "id": second.ref,
        "object": "payment_intent",
        "amount": second.amount.cents,
        "currency": "cad",
        "status": "succeeded",
        "metadata": {"order_id": order.id, "ledger_id": payment.id},
        "latest_charge": second.charge_id,
        "payment_method": "pm_1Nvisa",
    }

    response = deliver(client, stripe_event("payment_intent.succeeded", event))

    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "outcome": "duplicate_charge"}
    view = _order_view(client, customer, order.id)
    assert "Duplicate charge refunded" in [entry["event"] for entry in view["timeline"]]
    assert view["payment"] == before  # paid, due and refunded as they were
    with core.ctx.uow() as uow:
        duplicate = uow.ledger.get_payment(gateway_ref=second.ref)
        assert duplicate is not None
        [refund] = uow.ledger.refunds_for(duplicate.id)
    assert (duplicate.purpose, duplicate.amount, duplicate.refunded) == (
        PaymentPurpose.DUPLICATE,
        Money(BALANCE),
        Money(BALANCE),
    )
    assert (refund.status, refund.amount) == (RefundStatus.SUCCEEDED, Money(BALANCE))
    refunds = gateway.records("refund")
    assert [(r.ref, r.amount) for r in refunds] == [(refund.gateway_ref, Money(BALANCE))]
    with pytest.raises(RefundNotAllowed):  # nothing of the second charge is left at the gateway
        gateway.inner.refund(charge_ref=second.ref, amount=Money(1), idempotency_key="probe", reason="probe")
    original = _payment(core, payment.id)
    assert (original.status, original.gateway_ref, original.refunded) == (
        PaymentStatus.SUCCEEDED,
        payment.gateway_ref,
        Money.zero(),
    )

    redelivered = deliver(client, stripe_event("payment_intent.succeeded", event))  # another event id, same charge
    assert redelivered.status_code == 200, redelivered.text
    assert redelivered.json()["outcome"] == "no_change"
    assert len(gateway.records("refund")) == 1
    assert _order_view(client, customer, order.id)["payment"] == before
