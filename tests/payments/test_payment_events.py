"""Gateway events (webhooks) applied by the pure core, on in-memory adapters and the sandbox.

The sandbox sends no webhooks, so each test builds the event Stripe would send from what the
sandbox really did (its refs, amounts and our metadata), and delivers it when the scenario needs:
twice, out of order, during the API call, after recovery."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from datetime import timedelta

import attrs
import pytest

from adapters.memory.gateway_events import MemoryProcessedEvents
from adapters.payments.sandbox import SandboxGateway
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.errors import PaymentGatewayUnavailable
from checkout_core.model.order import PaymentChoice
from checkout_core.model.payments import DisputeStatus, Payment, PaymentStatus, Refund, RefundStatus
from checkout_core.model.reservation import ReservationStatus
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.money import Money
from checkout_core.ports.payments import ChargeResult, ChargeStatus, RefundOutcome, RefundResult
from checkout_core.usecases.context import Actor, Context, Role
from checkout_core.usecases.order_payments import pay_by_card
from checkout_core.usecases.orders import cancel_order, place_order
from checkout_core.usecases.payment_events import (
    EventOutcome,
    GatewayEvent,
    GatewayRefund,
    handle_gateway_event,
    list_disputes,
)
from checkout_core.usecases.reconciliation import reconcile_payments
from checkout_core.usecases.refunds import settle_pending_refunds
from checkout_core.usecases.reservations import (
    cancel_reservation,
    get_reservation,
    recover_pending_deposits,
    reserve_vehicle,
)
from entrypoints.bootstrap import App, bootstrap_in_memory
from tests.core.spec_example import spec_order

JOHN = Actor("cus_demo")
SARAH = Actor("adv_sarah", Role.ADVISOR)
CAR = "veh_abc123"
_event_ids = itertools.count(1)


# -- building the events Stripe would send ----------------------------------------------------


def _event(
    type: str,
    *,
    object_ref: str,
    amount: Money | None,
    status: str,
    clock: FixedClock,
    payment_ref: str | None,
    metadata: Mapping[str, str] | None = None,
    event_id: str | None = None,
    **extra: object,
) -> GatewayEvent:
    return GatewayEvent(
        id=event_id or f"evt_{next(_event_ids):06d}",
        type=type,
        object_ref=object_ref,
        amount=amount,
        status=status,
        created=clock.now(),
        metadata=metadata or {},
        payment_ref=payment_ref,
        **extra,  # type: ignore[arg-type]  # test helper passes optional GatewayEvent fields through
    )


def intent_event(type: str, charge: ChargeResult, payment: Payment, clock: FixedClock, **extra: object) -> GatewayEvent:
    """payment_intent.* for ``charge`` (our ledger id and key in its metadata, as we send them)."""
    status = {"payment_intent.succeeded": "succeeded", "payment_intent.canceled": "canceled"}
    return _event(
        type,
        object_ref=charge.ref,
        amount=charge.amount,
        status=status.get(type, "requires_payment_method"),
        clock=clock,
        payment_ref=charge.ref,
        metadata={"ledger_id": payment.id, "idempotency_key": payment.idempotency_key},
        **extra,
    )


def refund_event(
    type: str, refund: RefundResult, charge_ref: str, clock: FixedClock, *, key: str | None, status: str = "succeeded"
) -> GatewayEvent:
    """refund.* for ``refund`` (``key``: our idempotency key in its metadata, None if not ours)."""
    return _event(
        type,
        object_ref=refund.ref,
        amount=refund.amount,
        status=status,
        clock=clock,
        payment_ref=charge_ref,
        metadata={"idempotency_key": key} if key else {},
    )


def charge_refunded_event(
    charge: ChargeResult, refunds: list[RefundResult], clock: FixedClock, *, listed: bool = True
) -> GatewayEvent:
    """charge.refunded: the cumulative amount refunded, and (older API versions) the refunds."""
    return _event(
        "charge.refunded",
        object_ref=charge.charge_id or charge.ref,
        amount=Money(sum(r.amount.cents for r in refunds)),
        status="succeeded",
        clock=clock,
        payment_ref=charge.ref,
        refunds=tuple(GatewayRefund(ref=r.ref, amount=r.amount, status=r.status.value) for r in refunds)
        if listed
        else (),
    )


# -- reading the state back ---------------------------------------------------------------------


def _sandbox(app: App) -> SandboxGateway:
    gateway = app.ctx.gateway
    assert isinstance(gateway, SandboxGateway)
    return gateway


def _deposit(app: App, reservation_id: str) -> Payment:
    deposit = get_reservation(app.ctx, JOHN, reservation_id).deposit
    assert deposit is not None
    return deposit


def _refunds(app: App, payment_id: str) -> list[Refund]:
    with app.ctx.uow() as uow:
        return list(uow.ledger.refunds_for(payment_id))


def _events(app: App, aggregate_id: str) -> list[str]:
    with app.ctx.uow() as uow:
        return [e.name for e in uow.outbox.for_aggregate(aggregate_id)]


def _vehicle(app: App) -> VehicleStatus:
    with app.ctx.uow() as uow:
        vehicle = uow.vehicles.get(CAR)
        assert vehicle is not None
        return vehicle.status


def _state(app: App, reservation_id: str) -> tuple[object, ...]:
    """What must converge, without the refs that differ between two sandboxes."""
    reservation = get_reservation(app.ctx, JOHN, reservation_id).reservation
    deposit = _deposit(app, reservation_id)
    return (
        reservation.status,
        deposit.status,
        deposit.refunded,
        deposit.gateway_ref is not None,
        sorted((r.amount.cents, r.status.value, r.gateway_ref is not None) for r in _refunds(app, deposit.id)),
        _events(app, reservation_id),
        _vehicle(app),
    )


def _clean(app: App, clock: FixedClock) -> bool:
    report = reconcile_payments(
        app.ctx, SARAH, since=clock.now() - timedelta(days=1), until=clock.now() + timedelta(days=1)
    )
    return report.is_clean


def _lost_deposit_answer(app: App, source: str = "tok_visa") -> tuple[str, Payment, ChargeResult]:
    """Reserve with the sandbox losing the charge's answer: (reservation id, pending deposit,
    what the gateway really did)."""
    _sandbox(app).fail_after_charge = 1
    with pytest.raises(PaymentGatewayUnavailable):
        reserve_vehicle(app.ctx, JOHN, vehicle_id=CAR, payment_token=source)
    with app.ctx.uow() as uow:
        [reservation] = uow.reservations.list(customer_id=JOHN.id)
    deposit = _deposit(app, reservation.id)
    assert deposit.status is PaymentStatus.PENDING
    charge = _sandbox(app).find_charge(idempotency_key=deposit.idempotency_key, ledger_id=deposit.id)
    assert charge is not None
    return reservation.id, deposit, charge


class Wrapped:
    """The sandbox with hooks around its calls (a webhook arriving mid-call, a lost answer...)."""

    def __init__(self, inner: SandboxGateway) -> None:
        self.inner = inner
        self.name = inner.name
        self.after_charge: Callable[[ChargeResult], None] | None = None
        self.lose_refund_answers = 0
        self.find_nothing = False
        self.refunds: list[RefundResult] = []

    def charge(self, **kwargs: object) -> ChargeResult:
        result = self.inner.charge(**kwargs)  # type: ignore[arg-type]  # same keyword arguments as the port
        if self.after_charge is not None:
            self.after_charge(result)
        return result

    def find_charge(self, *, idempotency_key: str, ledger_id: str) -> ChargeResult | None:
        if self.find_nothing:
            return None  # as a lagging search index would answer
        return self.inner.find_charge(idempotency_key=idempotency_key, ledger_id=ledger_id)

    def refund(self, **kwargs: object) -> RefundResult:
        result = self.inner.refund(**kwargs)  # type: ignore[arg-type]  # same keyword arguments as the port
        self.refunds.append(result)
        if self.lose_refund_answers > 0:
            self.lose_refund_answers -= 1
            raise PaymentGatewayUnavailable("answer lost (test)")
        return result

    def get_refund(self, refund_ref: str) -> RefundResult:
        return self.inner.get_refund(refund_ref)

    def activity(self, since: object, until: object) -> object:
        return self.inner.activity(since, until)  # type: ignore[arg-type]  # passthrough


@pytest.fixture
def wrapped(memory_app: App) -> tuple[Context, Wrapped]:
    """The memory app's context with the hookable gateway."""
    gateway = Wrapped(_sandbox(memory_app))
    return attrs.evolve(memory_app.ctx, gateway=gateway), gateway  # type: ignore[arg-type]  # structurally a PaymentGateway


# -- each event id once ---------------------------------------------------------------------------


def test_a_duplicate_event_id_is_handled_once(memory_app: App, clock: FixedClock) -> None:
    reservation_id, deposit, charge = _lost_deposit_answer(memory_app)
    processed = MemoryProcessedEvents()
    event = intent_event("payment_intent.succeeded", charge, deposit, clock)

    assert handle_gateway_event(memory_app.ctx, event, processed=processed) == EventOutcome.PAYMENT_SUCCEEDED
    assert handle_gateway_event(memory_app.ctx, event, processed=processed) == EventOutcome.DUPLICATE
    assert get_reservation(memory_app.ctx, JOHN, reservation_id).reservation.status is ReservationStatus.CONFIRMED
    assert _events(memory_app, reservation_id).count("DepositPaid") == 1
    record = processed.get(event.id)
    assert record is not None
    assert record.outcome == "payment_succeeded"
    # Even without the store, the handlers only move records forward: a redelivery changes nothing.
    assert handle_gateway_event(memory_app.ctx, event) == EventOutcome.NO_CHANGE
    assert _events(memory_app, reservation_id).count("DepositPaid") == 1


def test_a_claim_is_released_when_handling_fails_so_the_redelivery_is_handled(
    memory_app: App, clock: FixedClock
) -> None:
    reservation_id, deposit, charge = _lost_deposit_answer(memory_app)
    processed = MemoryProcessedEvents()
    event = intent_event("payment_intent.succeeded", charge, deposit, clock)
    handle_gateway_event(memory_app.ctx, event, processed=processed)
    # A refund our ledger still has as pending: a charge.refunded event without the refunds
    # listed makes us ask the gateway about it, and the gateway is down this time.
    refund = _sandbox(memory_app).refund(charge_ref=charge.ref, amount=Money(1000), idempotency_key="k", reason="")
    with memory_app.ctx.uow() as uow:
        uow.ledger.add_refunds(
            [
                Refund(
                    id="rfd_pending",
                    payment_id=deposit.id,
                    amount=Money(1000),
                    status=RefundStatus.PENDING,
                    idempotency_key="k",
                    reason="test",
                    created_at=clock.now(),
                    updated_at=clock.now(),
                    gateway_ref=refund.ref,
                )
            ]
        )
        uow.commit()
    refunded = charge_refunded_event(charge, [refund], clock, listed=False)
    _sandbox(memory_app).fail_next = 1
    with pytest.raises(PaymentGatewayUnavailable):
        handle_gateway_event(memory_app.ctx, refunded, processed=processed)
    assert processed.get(refunded.id) is None
    assert handle_gateway_event(memory_app.ctx, refunded, processed=processed) == EventOutcome.REFUND_RECORDED
    assert [r.status for r in _refunds(memory_app, deposit.id)] == [RefundStatus.SUCCEEDED]
    assert get_reservation(memory_app.ctx, JOHN, reservation_id).reservation.status is ReservationStatus.CONFIRMED


def test_an_abandoned_claim_can_be_taken_over_after_its_lease(clock: FixedClock) -> None:
    processed = MemoryProcessedEvents()
    lease = timedelta(minutes=5)
    assert processed.claim("evt_1", "x", clock.now(), lease)
    assert not processed.claim("evt_1", "x", clock.now() + timedelta(minutes=1), lease)  # still being handled
    assert processed.claim("evt_1", "x", clock.now() + timedelta(minutes=6), lease)  # its handler died
    processed.complete("evt_1", "payment_succeeded", clock.now())
    assert not processed.claim("evt_1", "x", clock.now() + timedelta(days=30), lease)
    processed.release("evt_1")  # a completed record is kept
    assert processed.get("evt_1") is not None


# -- order of delivery does not matter --------------------------------------------------------------


def _fresh_app(clock: FixedClock) -> App:
    app = bootstrap_in_memory(clock=clock, ids=SequentialIds())
    load_demo(app.ctx.uow)
    return app


def _refund_before_success_scenario(app: App, clock: FixedClock, *, refund_first: bool) -> str:
    """The deposit's answer is lost; an operator refunds $40 in the dashboard; the events arrive
    in either order."""
    reservation_id, deposit, charge = _lost_deposit_answer(app)
    refund = _sandbox(app).refund(charge_ref=charge.ref, amount=Money(4000), idempotency_key="dash", reason="")
    succeeded = intent_event("payment_intent.succeeded", charge, deposit, clock)
    refunded = charge_refunded_event(charge, [refund], clock)
    processed = MemoryProcessedEvents()
    first, second = (refunded, succeeded) if refund_first else (succeeded, refunded)
    handle_gateway_event(app.ctx, first, processed=processed)
    handle_gateway_event(app.ctx, second, processed=processed)
    return reservation_id


def test_a_refund_event_before_the_succeeded_event_converges(clock: FixedClock) -> None:
    in_order, reversed_order = _fresh_app(clock), _fresh_app(clock)
    a = _refund_before_success_scenario(in_order, clock, refund_first=False)
    b = _refund_before_success_scenario(reversed_order, clock, refund_first=True)
    assert _state(in_order, a) == _state(reversed_order, b)
    status, deposit_status, refunded, *_ = _state(reversed_order, b)
    assert status is ReservationStatus.CONFIRMED
    assert deposit_status is PaymentStatus.SUCCEEDED
    assert refunded == Money(4000)
    assert _clean(reversed_order, clock)
    assert _clean(in_order, clock)


# -- the API call and its webhook -----------------------------------------------------------------


def test_the_webhook_can_beat_the_api_answer_and_both_settle_to_one_state(
    memory_app: App, clock: FixedClock, wrapped: tuple[Context, Wrapped]
) -> None:
    ctx, gateway = wrapped
    outcomes: list[str] = []

    def deliver_webhook_now(charge: ChargeResult) -> None:
        with ctx.uow() as uow:
            [payment] = list(
                uow.ledger.payments_for(
                    created_since=clock.now() - timedelta(1), created_before=clock.now() + timedelta(1)
                )
            )
        outcomes.append(handle_gateway_event(ctx, intent_event("payment_intent.succeeded", charge, payment, clock)))

    gateway.after_charge = deliver_webhook_now
    result = reserve_vehicle(ctx, JOHN, vehicle_id=CAR, payment_token="tok_visa")
    assert outcomes == [EventOutcome.PAYMENT_SUCCEEDED]  # the webhook settled it first
    assert result.reservation.status is ReservationStatus.CONFIRMED  # the API path found it settled
    deposit = _deposit(memory_app, result.reservation.id)
    assert deposit.status is PaymentStatus.SUCCEEDED
    assert deposit.gateway_ref == result.reservation.charge_id
    assert _events(memory_app, result.reservation.id) == [
        "VehicleReservationInitiated",
        "DepositPaid",
        "ReservationConfirmed",
    ]


def test_the_webhook_after_the_api_answer_changes_nothing(memory_app: App, clock: FixedClock) -> None:
    result = reserve_vehicle(memory_app.ctx, JOHN, vehicle_id=CAR, payment_token="tok_visa")
    before = _state(memory_app, result.reservation.id)
    deposit = _deposit(memory_app, result.reservation.id)
    charge = _sandbox(memory_app).find_charge(idempotency_key=deposit.idempotency_key, ledger_id=deposit.id)
    assert charge is not None
    event = intent_event("payment_intent.succeeded", charge, deposit, clock)
    assert handle_gateway_event(memory_app.ctx, event) == EventOutcome.NO_CHANGE
    # a stale payment_failed for the same PaymentIntent does not undo money taken
    failed = intent_event("payment_intent.payment_failed", charge, deposit, clock)
    assert handle_gateway_event(memory_app.ctx, failed) == EventOutcome.NO_CHANGE
    assert _state(memory_app, result.reservation.id) == before


@pytest.mark.parametrize("webhook_first", [True, False])
def test_recovery_and_the_webhook_settle_to_one_state(memory_app: App, clock: FixedClock, webhook_first: bool) -> None:
    reservation_id, deposit, charge = _lost_deposit_answer(memory_app)
    event = intent_event("payment_intent.succeeded", charge, deposit, clock)
    clock.advance(memory_app.ctx.policy.recovery_grace + timedelta(seconds=1))
    if webhook_first:
        assert handle_gateway_event(memory_app.ctx, event) == EventOutcome.PAYMENT_SUCCEEDED
        assert recover_pending_deposits(memory_app.ctx) == 0
    else:
        assert recover_pending_deposits(memory_app.ctx) == 1
        assert handle_gateway_event(memory_app.ctx, event) == EventOutcome.NO_CHANGE
    status, deposit_status, refunded, has_ref, refunds, events, vehicle = _state(memory_app, reservation_id)
    assert (status, deposit_status, refunded, has_ref, refunds) == (
        ReservationStatus.CONFIRMED,
        PaymentStatus.SUCCEEDED,
        Money(0),
        True,
        [],
    )
    assert events.count("DepositPaid") == 1
    assert vehicle is VehicleStatus.RESERVED


def test_a_charge_that_succeeds_after_recovery_released_the_car_is_refunded(
    memory_app: App, clock: FixedClock, wrapped: tuple[Context, Wrapped]
) -> None:
    """Recovery asked too early (Stripe's search lags) and released the car; then the webhook
    says the deposit was taken after all. The ledger follows the money, and the money goes back."""
    ctx, gateway = wrapped
    reservation_id, deposit, charge = _lost_deposit_answer(memory_app)
    gateway.find_nothing = True
    clock.advance(ctx.policy.recovery_grace + timedelta(seconds=1))
    assert recover_pending_deposits(ctx) == 1
    assert get_reservation(ctx, JOHN, reservation_id).reservation.status is ReservationStatus.FAILED
    assert _vehicle(memory_app) is VehicleStatus.AVAILABLE

    processed = MemoryProcessedEvents()
    event = intent_event("payment_intent.succeeded", charge, deposit, clock)
    assert handle_gateway_event(ctx, event, processed=processed) == EventOutcome.LATE_PAYMENT_REFUNDED
    assert handle_gateway_event(ctx, event, processed=processed) == EventOutcome.DUPLICATE
    paid = _deposit(memory_app, reservation_id)
    assert paid.status is PaymentStatus.SUCCEEDED
    assert paid.gateway_ref == charge.ref
    assert paid.refunded == paid.amount
    [refund] = _refunds(memory_app, paid.id)
    assert refund.status is RefundStatus.SUCCEEDED
    assert get_reservation(ctx, JOHN, reservation_id).reservation.status is ReservationStatus.FAILED
    assert _clean(memory_app, clock)


def test_payment_failed_releases_a_reservation_whose_answer_was_lost(memory_app: App, clock: FixedClock) -> None:
    reservation_id, deposit, charge = _lost_deposit_answer(memory_app, source="tok_chargeDeclinedInsufficientFunds")
    assert charge.status is ChargeStatus.FAILED
    event = intent_event("payment_intent.payment_failed", charge, deposit, clock, failure_code="insufficient_funds")
    assert handle_gateway_event(memory_app.ctx, event) == EventOutcome.PAYMENT_FAILED
    assert get_reservation(memory_app.ctx, JOHN, reservation_id).reservation.status is ReservationStatus.FAILED
    failed = _deposit(memory_app, reservation_id)
    assert failed.status is PaymentStatus.FAILED
    assert failed.failure_code == "insufficient_funds"
    assert _vehicle(memory_app) is VehicleStatus.AVAILABLE
    assert handle_gateway_event(memory_app.ctx, event) == EventOutcome.NO_CHANGE


# -- refunds --------------------------------------------------------------------------------------


def test_a_refund_event_before_the_refund_api_answer_is_recorded_once(
    memory_app: App, clock: FixedClock, wrapped: tuple[Context, Wrapped]
) -> None:
    ctx, gateway = wrapped
    reservation = reserve_vehicle(ctx, JOHN, vehicle_id=CAR, payment_token="tok_visa").reservation
    gateway.lose_refund_answers = 1
    cancel_reservation(ctx, JOHN, reservation.id)
    deposit = _deposit(memory_app, reservation.id)
    [pending] = _refunds(memory_app, deposit.id)
    assert pending.status is RefundStatus.PENDING
    assert pending.gateway_ref is None
    [made] = gateway.refunds

    event = refund_event("refund.updated", made, deposit.gateway_ref or "", clock, key=pending.idempotency_key)
    assert handle_gateway_event(ctx, event) == EventOutcome.REFUND_RECORDED
    [recorded] = _refunds(memory_app, deposit.id)
    assert recorded.status is RefundStatus.SUCCEEDED
    assert recorded.gateway_ref == made.ref
    assert settle_pending_refunds(ctx) == 0
    assert _deposit(memory_app, reservation.id).refunded == deposit.amount
    assert _events(memory_app, reservation.id).count("RefundIssued") == 1
    assert _clean(memory_app, clock)


def test_a_refund_made_in_the_dashboard_is_recorded(memory_app: App, clock: FixedClock) -> None:
    reservation = reserve_vehicle(memory_app.ctx, JOHN, vehicle_id=CAR, payment_token="tok_visa").reservation
    deposit = _deposit(memory_app, reservation.id)
    assert deposit.gateway_ref is not None
    outside = _sandbox(memory_app).refund(
        charge_ref=deposit.gateway_ref, amount=Money(2500), idempotency_key="dashboard", reason=""
    )
    event = refund_event("refund.created", outside, deposit.gateway_ref, clock, key=None)
    assert handle_gateway_event(memory_app.ctx, event) == EventOutcome.REFUND_RECORDED
    [recorded] = _refunds(memory_app, deposit.id)
    assert (recorded.amount, recorded.status, recorded.gateway_ref) == (
        Money(2500),
        RefundStatus.SUCCEEDED,
        outside.ref,
    )
    assert _deposit(memory_app, reservation.id).refunded == Money(2500)
    # the same refund again, now inside a charge.refunded event: known by its id
    charge = _sandbox(memory_app).find_charge(idempotency_key=deposit.idempotency_key, ledger_id=deposit.id)
    assert charge is not None
    assert (
        handle_gateway_event(memory_app.ctx, charge_refunded_event(charge, [outside], clock)) == EventOutcome.NO_CHANGE
    )
    assert len(_refunds(memory_app, deposit.id)) == 1
    assert _clean(memory_app, clock)


def test_a_refund_that_fails_after_succeeding_makes_the_money_refundable_again(
    memory_app: App, clock: FixedClock
) -> None:
    reservation = reserve_vehicle(memory_app.ctx, JOHN, vehicle_id=CAR, payment_token="tok_visa").reservation
    cancel_reservation(memory_app.ctx, JOHN, reservation.id)
    deposit = _deposit(memory_app, reservation.id)
    [refund] = _refunds(memory_app, deposit.id)
    assert refund.gateway_ref is not None
    failed = RefundResult(ref=refund.gateway_ref, status=RefundOutcome.FAILED, amount=refund.amount)
    event = refund_event(
        "refund.failed", failed, deposit.gateway_ref or "", clock, key=refund.idempotency_key, status="failed"
    )
    assert handle_gateway_event(memory_app.ctx, event) == EventOutcome.REFUND_FAILED
    assert _refunds(memory_app, deposit.id)[0].status is RefundStatus.FAILED
    assert _deposit(memory_app, reservation.id).refundable == deposit.amount
    assert handle_gateway_event(memory_app.ctx, event) == EventOutcome.NO_CHANGE


# -- order payments -------------------------------------------------------------------------------


def _order(app: App, ctx: Context | None = None) -> str:
    ctx = ctx or app.ctx
    reservation = reserve_vehicle(ctx, JOHN, vehicle_id=CAR, payment_token="tok_visa").reservation
    command = spec_order(
        reservation.id, payment_method=PaymentChoice.CASH, financing_application_id=None, down_payment=Money(0)
    )
    return place_order(ctx, JOHN, command).id


def _paid(app: App, order_id: str) -> Money:
    with app.ctx.uow() as uow:
        order = uow.orders.get(order_id)
        assert order is not None
        return order.paid


def test_an_order_payment_webhook_during_the_api_call_waits_for_it(
    memory_app: App, clock: FixedClock, wrapped: tuple[Context, Wrapped]
) -> None:
    """pay_by_card records its own answer without looking for a webhook's, so a webhook that
    arrives while the call is in flight is deferred (delivered again later), never counted twice."""
    ctx, gateway = wrapped
    order_id = _order(memory_app, ctx)
    paid_before = _paid(memory_app, order_id)
    processed = MemoryProcessedEvents()
    delivered: list[tuple[GatewayEvent, str]] = []

    def deliver_webhook_now(charge: ChargeResult) -> None:
        with ctx.uow() as uow:
            payment = uow.ledger.payments_for(order_id=order_id)[-1]
        event = intent_event("payment_intent.succeeded", charge, payment, clock)
        delivered.append((event, handle_gateway_event(ctx, event, processed=processed)))

    gateway.after_charge = deliver_webhook_now
    payment = pay_by_card(ctx, JOHN, order_id, token="tok_visa", amount=Money(50000))
    [(event, outcome)] = delivered
    assert outcome == EventOutcome.DEFERRED
    assert processed.get(event.id) is None  # not recorded: the redelivery will be looked at
    assert payment.status is PaymentStatus.SUCCEEDED
    assert handle_gateway_event(ctx, event, processed=processed) == EventOutcome.NO_CHANGE
    assert _paid(memory_app, order_id) == paid_before + Money(50000)


def test_a_lost_order_payment_answer_is_settled_by_the_webhook(memory_app: App, clock: FixedClock) -> None:
    order_id = _order(memory_app)
    paid_before = _paid(memory_app, order_id)
    _sandbox(memory_app).fail_after_charge = 1
    with pytest.raises(PaymentGatewayUnavailable):
        pay_by_card(memory_app.ctx, JOHN, order_id, token="tok_visa", amount=Money(50000))
    with memory_app.ctx.uow() as uow:
        pending = uow.ledger.payments_for(order_id=order_id)[-1]
    charge = _sandbox(memory_app).find_charge(idempotency_key=pending.idempotency_key, ledger_id=pending.id)
    assert charge is not None
    processed = MemoryProcessedEvents()
    event = intent_event("payment_intent.succeeded", charge, pending, clock)
    assert handle_gateway_event(memory_app.ctx, event, processed=processed) == EventOutcome.DEFERRED
    clock.advance(memory_app.ctx.policy.recovery_grace + timedelta(seconds=1))
    assert handle_gateway_event(memory_app.ctx, event, processed=processed) == EventOutcome.PAYMENT_SUCCEEDED
    assert handle_gateway_event(memory_app.ctx, event, processed=processed) == EventOutcome.DUPLICATE
    assert _paid(memory_app, order_id) == paid_before + Money(50000)
    with memory_app.ctx.uow() as uow:
        settled = uow.ledger.get_payment(pending.id)
    assert settled is not None
    assert (settled.status, settled.gateway_ref) == (PaymentStatus.SUCCEEDED, charge.ref)
    assert _clean(memory_app, clock)


def test_money_for_an_order_cancelled_meanwhile_goes_back(memory_app: App, clock: FixedClock) -> None:
    order_id = _order(memory_app)
    _sandbox(memory_app).fail_after_charge = 1
    with pytest.raises(PaymentGatewayUnavailable):
        pay_by_card(memory_app.ctx, JOHN, order_id, token="tok_visa", amount=Money(50000))
    with memory_app.ctx.uow() as uow:
        pending = uow.ledger.payments_for(order_id=order_id)[-1]
    cancel_order(memory_app.ctx, JOHN, order_id)
    clock.advance(memory_app.ctx.policy.recovery_grace + timedelta(seconds=1))
    charge = _sandbox(memory_app).find_charge(idempotency_key=pending.idempotency_key, ledger_id=pending.id)
    assert charge is not None
    event = intent_event("payment_intent.succeeded", charge, pending, clock)
    assert handle_gateway_event(memory_app.ctx, event) == EventOutcome.LATE_PAYMENT_REFUNDED
    [refund] = _refunds(memory_app, pending.id)
    assert (refund.amount, refund.status) == (Money(50000), RefundStatus.SUCCEEDED)
    assert _clean(memory_app, clock)


# -- the rest -------------------------------------------------------------------------------------


def _dispute_event(kind: str, deposit: Payment, clock: FixedClock, *, status: str, ref: str = "dp_1") -> GatewayEvent:
    return _event(
        f"charge.dispute.{kind}",
        object_ref=ref,
        amount=deposit.amount,
        status=status,
        clock=clock,
        payment_ref=deposit.gateway_ref,
        failure_code="fraudulent",
    )


def _disputes(app: App) -> list[tuple[str, str, int, str]]:
    with app.ctx.uow() as uow:
        return [(d.gateway_ref, d.payment_id, d.amount.cents, d.status.value) for d in uow.ledger.disputes()]


def test_a_dispute_is_recorded_once_and_changes_no_money_in_the_ledger(memory_app: App, clock: FixedClock) -> None:
    reservation = reserve_vehicle(memory_app.ctx, JOHN, vehicle_id=CAR, payment_token="tok_visa").reservation
    deposit = _deposit(memory_app, reservation.id)
    before, events_before = _state(memory_app, reservation.id), _events(memory_app, reservation.id)
    opened = _dispute_event("created", deposit, clock, status="needs_response")
    assert handle_gateway_event(memory_app.ctx, opened) == EventOutcome.DISPUTE_OPENED
    again = attrs.evolve(opened, id="evt_redelivered_as_new")  # the same dispute in another event
    assert handle_gateway_event(memory_app.ctx, again) == EventOutcome.DISPUTE_OPENED
    assert _disputes(memory_app) == [("dp_1", deposit.id, 10000, "open")]
    after = _state(memory_app, reservation.id)
    assert after[:-2] == before[:-2] and after[-1] == before[-1]  # no money moved, the car is as it was
    assert _events(memory_app, reservation.id) == [*events_before, "PaymentDisputed"]
    [listed] = list_disputes(memory_app.ctx, status=DisputeStatus.OPEN)
    assert (listed.reason, listed.closed_at) == ("fraudulent", None)


@pytest.mark.parametrize(("stripe_status", "outcome"), [("won", "won"), ("lost", "lost"), ("warning_closed", "won")])
def test_a_closed_dispute_records_its_outcome_once(
    memory_app: App, clock: FixedClock, stripe_status: str, outcome: str
) -> None:
    reservation = reserve_vehicle(memory_app.ctx, JOHN, vehicle_id=CAR, payment_token="tok_visa").reservation
    deposit = _deposit(memory_app, reservation.id)
    handle_gateway_event(memory_app.ctx, _dispute_event("created", deposit, clock, status="needs_response"))
    clock.advance(timedelta(days=40))
    closed = _dispute_event("closed", deposit, clock, status=stripe_status)
    assert handle_gateway_event(memory_app.ctx, closed) == EventOutcome.DISPUTE_CLOSED
    assert handle_gateway_event(memory_app.ctx, attrs.evolve(closed, id="evt_again")) == EventOutcome.NO_CHANGE
    assert _disputes(memory_app) == [("dp_1", deposit.id, 10000, outcome)]
    assert _events(memory_app, reservation.id)[-2:] == ["PaymentDisputed", "DisputeClosed"]
    [dispute] = list_disputes(memory_app.ctx)
    assert dispute.closed_at == clock.now()


def test_a_dispute_closed_before_we_heard_it_open_is_recorded_then_closed(memory_app: App, clock: FixedClock) -> None:
    reservation = reserve_vehicle(memory_app.ctx, JOHN, vehicle_id=CAR, payment_token="tok_visa").reservation
    deposit = _deposit(memory_app, reservation.id)
    closed = _dispute_event("closed", deposit, clock, status="lost", ref="dp_9")
    assert handle_gateway_event(memory_app.ctx, closed) == EventOutcome.DISPUTE_CLOSED
    assert _disputes(memory_app) == [("dp_9", deposit.id, 10000, "lost")]
    late_open = _dispute_event("created", deposit, clock, status="needs_response", ref="dp_9")
    assert handle_gateway_event(memory_app.ctx, late_open) == EventOutcome.DISPUTE_OPENED
    assert _disputes(memory_app) == [("dp_9", deposit.id, 10000, "lost")]  # the late "created" changes nothing
    unknown = attrs.evolve(closed, id="evt_x", object_ref="dp_x", payment_ref="pi_elsewhere", metadata={})
    assert handle_gateway_event(memory_app.ctx, unknown) == EventOutcome.UNKNOWN_PAYMENT


def test_unknown_payments_and_types_are_acknowledged(memory_app: App, clock: FixedClock) -> None:
    unknown = _event(
        "payment_intent.succeeded",
        object_ref="pi_elsewhere",
        amount=Money(500),
        status="succeeded",
        clock=clock,
        payment_ref="pi_elsewhere",
    )
    assert handle_gateway_event(memory_app.ctx, unknown) == EventOutcome.UNKNOWN_PAYMENT
    other = _event("customer.created", object_ref="cus_1", amount=None, status="", clock=clock, payment_ref=None)
    assert handle_gateway_event(memory_app.ctx, other) == EventOutcome.IGNORED
