"""``checkout payments recover``, ``checkout payments audit`` and the audit inside
``checkout payments reconcile``, through Click's runner on the in-memory app.

a. ``payments recover`` (and ``reservations recover``, its older name) settle what a crash left
   behind — here a card payment of the balance charged at the gateway whose answer never came —
   once the recovery grace has passed, and nothing on a second run;
b. ``payments audit`` exits 0 on healthy data and 1 naming the invariant once the data breaks one
   (each corruption below is written straight through the repositories, as a bug or a hand-made
   database edit would leave it);
c. ``payments reconcile`` reports the audit (``invariants``) and the duplicate charges, and exits 1
   on audit findings even when the gateway and the ledger agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result

from adapters.payments.sandbox import SandboxGateway
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.errors import PaymentGatewayUnavailable
from checkout_core.model.order import Order, OrderStatus
from checkout_core.model.payments import Payment, PaymentPurpose, PaymentStatus
from checkout_core.model.reservation import ReservationStatus
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.money import Money
from checkout_core.ports.payments import ChargeResult
from checkout_core.usecases.ledger_audit import INVARIANTS
from checkout_core.usecases.order_payments import pay_by_card
from checkout_core.usecases.orders import verify_insurance
from checkout_core.usecases.payment_events import GatewayEvent, handle_gateway_event
from checkout_core.usecases.reservations import cancel_reservation
from entrypoints.bootstrap import App, bootstrap_in_memory
from entrypoints.cli.app_factory import CliState
from entrypoints.cli.main import cli
from tests.cli.conftest import JOHN, SARAH, out_json, reserve, signed_and_insured, spec_order_placed, squeeze

BALANCE = 250_000
DEPOSIT = 10_000
DAY = "2025-12-23"  # the fixed clock's day
_EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
ZEROS = {"pendingDepositsSettled": 0, "cardPaymentsSettled": 0, "refundsOpened": 0, "pendingRefundsSettled": 0}


class LostAnswerGateway(SandboxGateway):
    """The sandbox; ``lose_answers`` charges are made and then their answer is lost (the process
    dies, or the connection drops, between the charge and the record)."""

    lose_answers = 0

    def charge(self, **kwargs: Any) -> ChargeResult:
        result = super().charge(**kwargs)
        if self.lose_answers > 0:
            self.lose_answers -= 1
            raise PaymentGatewayUnavailable("connection reset after the charge was made")
        return result


@pytest.fixture
def gateway(clock: FixedClock) -> LostAnswerGateway:
    return LostAnswerGateway(clock)


@pytest.fixture
def app(clock: FixedClock, gateway: LostAnswerGateway) -> Iterator[App]:
    """The in-memory app with the demo data, charging through ``gateway``."""
    checkout = bootstrap_in_memory(clock=clock, ids=SequentialIds(), gateway=gateway)
    load_demo(checkout.ctx.uow)
    yield checkout
    checkout.close()


Run = Callable[..., Result]


@pytest.fixture
def run(app: App) -> Run:
    """``run("payments", "audit")`` → the click Result, against ``app`` (as advisor)."""

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), obj=CliState.using(app))

    return invoke


def findings_json(result: Result) -> Any:
    """The JSON a command printed while exiting 1 (findings)."""
    assert result.exit_code == 1, (result.exit_code, result.output)
    return json.loads(result.stdout)


def pending_payment_order(app: App) -> Order:
    """The spec's order placed by John, signed, insured and verified: BALANCE due."""
    order = spec_order_placed(app)
    signed_and_insured(app, order)
    verified = verify_insurance(app.ctx, SARAH, order.id)
    assert (verified.status, verified.balance_due) == (OrderStatus.PENDING_PAYMENT, Money(BALANCE))
    return verified


def card_payment_left_pending(app: App, gateway: LostAnswerGateway) -> tuple[Order, Payment]:
    """John pays the balance by card; the gateway charges, the answer is lost: (order, the pending row)."""
    order = pending_payment_order(app)
    gateway.lose_answers = 1
    with pytest.raises(PaymentGatewayUnavailable):
        pay_by_card(app.ctx, JOHN, order.id, token="tok_visa", operation="op-crashed")
    with app.ctx.uow() as uow:
        [pending] = [p for p in uow.ledger.payments_for(order_id=order.id) if p.purpose is PaymentPurpose.ORDER]
    assert pending.status is PaymentStatus.PENDING
    charged = gateway.find_charge(idempotency_key=pending.idempotency_key, ledger_id=pending.id)
    assert charged is not None and charged.status.value == "succeeded"  # the money moved
    return order, pending


def stored_order(app: App, order_id: str) -> Order:
    with app.ctx.uow() as uow:
        order = uow.orders.get(order_id)
    assert order is not None
    return order


def past_the_grace(app: App, clock: FixedClock) -> None:
    clock.advance(app.ctx.policy.recovery_grace + timedelta(seconds=1))


def healthy_data(app: App) -> Order:
    """Some of everything, all as it should be: a hold cancelled (its deposit refunded) and an
    order paid in full by card."""
    cancel_reservation(app.ctx, JOHN, reserve(app))
    order = pending_payment_order(app)
    pay_by_card(app.ctx, JOHN, order.id, token="tok_visa", operation="op-healthy")
    assert stored_order(app, order.id).balance_due == Money.zero()
    return order


# == a. payments recover ==========================================================================


def test_recover_json_has_the_four_counts_and_reservations_recover_the_same(run: Run) -> None:
    assert out_json(run("payments", "recover", "--json")) == ZEROS
    assert out_json(run("reservations", "recover", "--json")) == ZEROS


def test_recover_settles_a_card_payment_a_crash_left_pending_once(
    run: Run, app: App, gateway: LostAnswerGateway, clock: FixedClock
) -> None:
    order, pending = card_payment_left_pending(app, gateway)
    assert out_json(run("payments", "recover", "--json")) == ZEROS  # inside the grace: maybe still in flight
    assert stored_order(app, order.id).balance_due == Money(BALANCE)

    past_the_grace(app, clock)
    first = out_json(run("payments", "recover", "--json"))

    assert first == {**ZEROS, "cardPaymentsSettled": 1}
    settled = stored_order(app, order.id)
    assert (settled.status, settled.paid, settled.balance_due) == (
        OrderStatus.PENDING_DELIVERY,
        Money(DEPOSIT + BALANCE),
        Money.zero(),
    )
    with app.ctx.uow() as uow:
        stored = uow.ledger.get_payment(pending.id)
    assert stored is not None and stored.status is PaymentStatus.SUCCEEDED
    assert out_json(run("payments", "recover", "--json")) == ZEROS
    assert out_json(run("reservations", "recover", "--json")) == ZEROS
    assert stored_order(app, order.id).paid == Money(DEPOSIT + BALANCE)  # counted once
    charges = [r for r in gateway.activity(*_EVER) if r.kind == "charge"]
    assert len(charges) == 2  # the deposit and the balance, nothing charged again
    human = run("payments", "recover")
    assert human.exit_code == 0, human.output
    assert "Card payments settled: 0" in squeeze(human.stdout)


# == b. payments audit ============================================================================


def test_audit_is_clean_on_healthy_data(run: Run, app: App) -> None:
    healthy_data(app)

    human = run("payments", "audit")
    assert human.exit_code == 0, human.output
    assert "Result: clean" in human.stdout
    for name in INVARIANTS:
        assert name in human.stdout  # one line per rule checked
    report = out_json(run("payments", "audit", "--json"))
    assert (report["clean"], report["findings"]) == (True, [])
    assert report["counts"] == dict.fromkeys(INVARIANTS, 0)
    assert report["checked"]["reservations"] >= 1 and report["checked"]["orders"] >= 1


# Each corruption breaks exactly one invariant and returns (invariant, subject, amount at stake).
Corruption = Callable[[App, LostAnswerGateway, FixedClock], tuple[str, str, int | None]]


def cancelled_hold_still_holding_its_deposit(
    app: App, gateway: LostAnswerGateway, clock: FixedClock
) -> tuple[str, str, int | None]:
    """A confirmed hold written as cancelled, its car released, no refund ever opened."""
    reservation_id = reserve(app)
    with app.ctx.uow() as uow:
        reservation = uow.reservations.get(reservation_id)
        assert reservation is not None
        reservation.status = ReservationStatus.CANCELLED
        uow.reservations.save(reservation)
        assert uow.vehicles.set_status(reservation.vehicle_id, VehicleStatus.AVAILABLE)
        uow.commit()
    return "deposit_not_refunded", reservation_id, DEPOSIT


def cancelled_order_still_holding_its_money(
    app: App, gateway: LostAnswerGateway, clock: FixedClock
) -> tuple[str, str, int | None]:
    """An order written as cancelled, its car released, the deposit it holds never refunded."""
    order = spec_order_placed(app)
    with app.ctx.uow() as uow:
        stored = uow.orders.get(order.id)
        assert stored is not None
        stored.status = OrderStatus.CANCELLED
        uow.orders.save(stored)
        assert uow.vehicles.set_status(stored.vehicle_id, VehicleStatus.AVAILABLE)
        uow.commit()
    return "order_not_refunded", order.id, DEPOSIT


def car_reserved_without_a_hold(app: App, gateway: LostAnswerGateway, clock: FixedClock) -> tuple[str, str, int | None]:
    """A car on sale written as reserved, with no reservation holding it."""
    with app.ctx.uow() as uow:
        car = next(v for v in uow.vehicles.list(status=VehicleStatus.AVAILABLE) if v.id != "veh_abc123")
        assert uow.vehicles.set_status(car.id, VehicleStatus.RESERVED, expected=VehicleStatus.AVAILABLE)
        uow.commit()
    return "car_without_hold", car.id, None


def card_payment_pending_past_the_grace(
    app: App, gateway: LostAnswerGateway, clock: FixedClock
) -> tuple[str, str, int | None]:
    """A card payment whose answer was lost, the recovery job not run since."""
    _, pending = card_payment_left_pending(app, gateway)
    past_the_grace(app, clock)
    return "stale_intent", pending.id, BALANCE


def duplicate_charge_kept(app: App, gateway: LostAnswerGateway, clock: FixedClock) -> tuple[str, str, int | None]:
    """A second charge for the deposit recorded as such, with no refund of it."""
    order = spec_order_placed(app)
    now = app.ctx.clock.now()
    with app.ctx.uow() as uow:
        [deposit] = uow.ledger.payments_for(order_id=order.id)
        duplicate = Payment(
            id="pay_duplicate_kept",
            purpose=PaymentPurpose.DUPLICATE,
            method=deposit.method,
            amount=deposit.amount,
            status=PaymentStatus.SUCCEEDED,
            idempotency_key="duplicate:pi_second",
            order_id=order.id,
            reservation_id=deposit.reservation_id,
            gateway_ref="pi_second",
            created_at=now,
            updated_at=now,
        )
        uow.ledger.add_payment(duplicate)
        uow.commit()
    return "duplicate_not_refunded", duplicate.id, DEPOSIT


CORRUPTIONS = [
    pytest.param(cancelled_hold_still_holding_its_deposit, True, id="deposit_not_refunded"),
    pytest.param(cancelled_order_still_holding_its_money, True, id="order_not_refunded"),
    pytest.param(car_reserved_without_a_hold, False, id="car_without_hold"),
    pytest.param(card_payment_pending_past_the_grace, True, id="stale_intent"),
    pytest.param(duplicate_charge_kept, True, id="duplicate_not_refunded"),
]


@pytest.mark.parametrize(("corrupt", "recoverable"), CORRUPTIONS)
def test_audit_exits_1_and_names_the_broken_invariant(
    run: Run, app: App, gateway: LostAnswerGateway, clock: FixedClock, corrupt: Corruption, recoverable: bool
) -> None:
    invariant, subject, amount = corrupt(app, gateway, clock)

    human = run("payments", "audit")
    assert human.exit_code == 1, human.output
    text = squeeze(human.stdout)
    assert f"{invariant} {subject}" in text  # the findings table names the invariant and the record
    assert f"{invariant} 1 " in text  # and the per-invariant count
    assert "Result: 1 finding(s)." in text
    report = findings_json(run("payments", "audit", "--json"))
    assert report["clean"] is False
    assert [(f["invariant"], f["subject"], f["amount"]) for f in report["findings"]] == [(invariant, subject, amount)]
    assert report["counts"] == {**dict.fromkeys(INVARIANTS, 0), invariant: 1}
    assert report["findings"][0]["detail"]

    if recoverable:  # money owed or an intent left stale: the recovery job is the remedy
        past_the_grace(app, clock)
        assert run("payments", "recover", "--json").exit_code == 0
        after = run("payments", "audit", "--json")
        assert after.exit_code == 0, after.output
        assert json.loads(after.stdout)["findings"] == []


# == c. payments reconcile runs the audit too =====================================================


def reconcile(run: Run) -> Result:
    return run("payments", "reconcile", "--since", DAY, "--until", DAY, "--json")


def test_reconcile_on_healthy_data_is_clean_with_the_audit_and_no_duplicates(run: Run, app: App) -> None:
    healthy_data(app)

    report = out_json(reconcile(run))

    assert report["clean"] is True
    assert report["buckets"]["matched"]["count"] >= 3  # two deposits, a refund, the balance
    assert report["duplicateCharges"] == {"count": 0, "items": []}
    assert report["invariants"]["clean"] is True
    assert report["invariants"]["findings"] == []


def test_reconcile_exits_1_on_audit_findings_although_the_gateway_matches(
    run: Run, app: App, gateway: LostAnswerGateway, clock: FixedClock
) -> None:
    healthy_data(app)
    _, car, _ = car_reserved_without_a_hold(app, gateway, clock)

    result = reconcile(run)

    report = findings_json(result)
    assert report["clean"] is True  # ledger and gateway agree …
    assert all(report["buckets"][name]["count"] == 0 for name in report["buckets"] if name != "matched")
    assert report["invariants"]["clean"] is False  # … the business does not
    assert [(f["invariant"], f["subject"]) for f in report["invariants"]["findings"]] == [("car_without_hold", car)]
    human = run("payments", "reconcile", "--since", DAY, "--until", DAY)
    assert human.exit_code == 1, human.output
    assert "car_without_hold" in human.stdout
    assert "Business invariants:" in human.stdout


def test_reconcile_lists_a_refunded_duplicate_charge(run: Run, app: App, gateway: LostAnswerGateway) -> None:
    order = pending_payment_order(app)
    paid = pay_by_card(app.ctx, JOHN, order.id, token="tok_visa", operation="op-1")
    second = gateway.charge(
        amount=paid.amount,
        source="tok_visa",
        idempotency_key="a-key-that-is-not-ours",
        description="the same payment again",
        metadata={"order_id": order.id, "ledger_id": paid.id},
    )
    outcome = handle_gateway_event(
        app.ctx,
        GatewayEvent(
            id="evt_second_charge",
            type="payment_intent.succeeded",
            object_ref=second.ref,
            amount=second.amount,
            status="succeeded",
            created=app.ctx.clock.now(),
            metadata={"ledger_id": paid.id},
            payment_ref=second.ref,
        ),
    )
    assert outcome == "duplicate_charge"

    report = out_json(reconcile(run))

    assert report["duplicateCharges"]["count"] == 1
    [listed] = report["duplicateCharges"]["items"]
    assert (listed["gatewayRef"], listed["amount"], listed["status"]) == (second.ref, BALANCE, "succeeded")
    assert report["clean"] is True  # the second charge and its refund are both in our ledger
    assert report["invariants"]["clean"] is True  # and it is refunded
    assert stored_order(app, order.id).paid == Money(DEPOSIT + BALANCE)
