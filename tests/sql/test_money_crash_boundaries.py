"""Every money flow, crashed at every step boundary, then recovered, then audited.

For each flow (docs/payments.md, "Crash safety", has the same table) and each boundary the flow
crosses — every commit, and before and after every gateway call that moves money — the flow is run
with a :class:`tests.faults.Crash` injected at that boundary. Then, as in production: the client
may retry with the same key, the recovery job runs after its grace period (twice: the second run
must find nothing), and then

- the ledger audit (business invariants) is clean,
- reconciliation against the gateway is clean (no charge without exactly one ledger row),
- the flow's own outcome holds (what the buyer was charged, refunded and holds).

On the memory adapter, SQLite and PostgreSQL. A test also pins each flow's boundary trace, so a
flow that gains a step cannot go untested.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import attrs
import pytest
from sqlalchemy import event

from adapters.system.clock import FixedClock
from checkout_core.errors import DomainError
from checkout_core.model.order import Order, OrderStatus
from checkout_core.model.payments import PaymentPurpose, PaymentStatus, RefundStatus
from checkout_core.model.reservation import ReservationStatus
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.money import Money
from checkout_core.ports.payments import ChargeStatus
from checkout_core.usecases.context import SYSTEM, Actor, Context, Role
from checkout_core.usecases.ledger_audit import audit_ledger
from checkout_core.usecases.order_payments import pay_by_card, record_bank_transfer
from checkout_core.usecases.order_view import order_details
from checkout_core.usecases.orders import (
    cancel_order,
    complete_signing,
    deliver_order,
    place_order,
    return_order,
    schedule_delivery,
    start_signing,
    submit_insurance,
    verify_insurance,
)
from checkout_core.usecases.payment_events import GatewayEvent, handle_gateway_event
from checkout_core.usecases.reconciliation import period_of_days, reconcile_payments
from checkout_core.usecases.recovery import recover_payments
from checkout_core.usecases.refunds import refund_payment
from checkout_core.usecases.reservations import (
    cancel_reservation,
    expire_due_reservations,
    get_reservation,
    reserve_vehicle,
)
from entrypoints.bootstrap import App
from entrypoints.views import order_to_dict
from tests.conftest import SPEC_NOW
from tests.core.spec_example import spec_order
from tests.faults import Crash, FaultPlan, faulty

JOHN = Actor("cus_demo")
SARAH = Actor("adv_sarah", Role.ADVISOR)
CAR = "veh_abc123"
DEPOSIT = 10000
DOWN_PAYMENT = 250000  # what the spec's financed order leaves to the buyer beyond the deposit
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


# -- the app on each backend -------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def app(request: pytest.FixtureRequest, clock: FixedClock) -> App:
    """The whole core with the demo data, on the memory adapter, SQLite or PostgreSQL."""
    if request.param == "memory":
        found = request.getfixturevalue("memory_app")
    else:
        found = request.getfixturevalue("app_on_sql")
    assert isinstance(found, App)
    return found


@pytest.fixture
def sql_backend_engine(request: pytest.FixtureRequest) -> object:
    """The engine for this test's SQL backend (the ``app`` fixture's param)."""
    from tests.sql.conftest import sql_engine

    return sql_engine(request, request.node.callspec.params["app"])


# -- what a flow is -----------------------------------------------------------------------------


@attrs.define
class State:
    """What a flow's setup made and its run returned (ids the checks look at)."""

    reservation_id: str = ""
    order_id: str = ""
    payment_id: str = ""
    result: object = None


@attrs.frozen
class Flow:
    """One money flow: set up without faults, ``run`` with them, optionally retried by the client
    with the same key after a crash, then checked once recovery ran."""

    name: str
    setup: Callable[[App, FixedClock], State]
    run: Callable[[Context, State], object]
    boundaries: tuple[str, ...]
    check: Callable[[App, State, int | None], None]
    retry: bool = False


def _reserve(app: App, key: str = "reserve-1") -> str:
    return reserve_vehicle(app.ctx, JOHN, vehicle_id=CAR, payment_token="tok_visa", request_key=key).reservation.id


def _order(app: App) -> Order:
    return place_order(app.ctx, JOHN, spec_order(_reserve(app)))


def _paid_order(app: App) -> Order:
    order = _order(app)
    pay_by_card(app.ctx, JOHN, order.id, token="tok_visa", operation="setup-payment")
    return order


def _delivered_order(app: App) -> Order:
    order = _order(app)
    ctx = app.ctx
    envelope = start_signing(ctx, JOHN, order.id)
    complete_signing(
        ctx,
        order_id=order.id,
        envelope_id=envelope.id,
        typed_name="John Doe",
        consent=True,
        ip_address="",
        user_agent="",
    )
    submit_insurance(ctx, JOHN, order.id, content=PDF, policy_number="POL-1", provider="Intact")
    verify_insurance(ctx, SARAH, order.id)
    pay_by_card(ctx, JOHN, order.id, token="tok_visa", operation="setup-payment")
    schedule_delivery(ctx, SARAH, order.id, on=date(2025, 12, 28), time_window="10:00 AM - 2:00 PM")
    from checkout_core.usecases.orders import dispatch_order

    dispatch_order(ctx, SARAH, order.id)
    deliver_order(ctx, SARAH, order.id)
    return order


def _load_order(app: App, order_id: str) -> Order:
    with app.ctx.uow() as uow:
        order = uow.orders.get(order_id)
    assert order is not None
    return order


def _vehicle_status(app: App) -> VehicleStatus:
    with app.ctx.uow() as uow:
        vehicle = uow.vehicles.get(CAR)
    assert vehicle is not None
    return vehicle.status


def _gateway_net(app: App) -> tuple[int, int]:
    """(cents charged, cents refunded) at the gateway, succeeded records only."""
    records = list(app.ctx.gateway.activity(SPEC_NOW - timedelta(days=1), SPEC_NOW + timedelta(days=400)))
    charged = sum(r.amount.cents for r in records if r.kind == "charge" and r.status == "succeeded")
    refunded = sum(r.amount.cents for r in records if r.kind == "refund" and r.status == "succeeded")
    return charged, refunded


# -- the flows ----------------------------------------------------------------------------------


def _setup_nothing(app: App, clock: FixedClock) -> State:
    return State()


def _run_reserve(ctx: Context, state: State) -> object:
    return reserve_vehicle(ctx, JOHN, vehicle_id=CAR, payment_token="tok_visa", request_key="reserve-1")


def _check_reserve(app: App, state: State, crashed_at: int | None) -> None:
    charged, refunded = _gateway_net(app)
    held = charged - refunded
    found = get_reservation(app.ctx, SYSTEM, _reservation_id_of_key(app))
    if found.reservation.status is ReservationStatus.CONFIRMED:
        assert held == DEPOSIT and _vehicle_status(app) is VehicleStatus.RESERVED
    else:
        # Released because no charge was made before the crash: nothing held, the car free.
        assert found.reservation.status is ReservationStatus.FAILED
        assert held == 0 and _vehicle_status(app) is VehicleStatus.AVAILABLE
    assert charged <= DEPOSIT  # never charged twice


def _check_reserve_retried(app: App, state: State, crashed_at: int | None) -> None:
    _check_reserve(app, state, crashed_at)
    found = get_reservation(app.ctx, SYSTEM, _reservation_id_of_key(app))
    assert found.reservation.status is ReservationStatus.CONFIRMED  # the retry finished the job
    assert _gateway_net(app) == (DEPOSIT, 0)


def _reservation_id_of_key(app: App) -> str:
    with app.ctx.uow() as uow:
        found = uow.reservations.list(customer_id=JOHN.id, limit=10)
    assert len(found) == 1
    return found[0].id


def _setup_reserved(app: App, clock: FixedClock) -> State:
    return State(reservation_id=_reserve(app))


def _run_cancel_reservation(ctx: Context, state: State) -> object:
    return cancel_reservation(ctx, JOHN, state.reservation_id)


def _check_released(app: App, state: State, crashed_at: int | None) -> None:
    found = get_reservation(app.ctx, SYSTEM, state.reservation_id)
    assert found.reservation.status in (ReservationStatus.CANCELLED, ReservationStatus.EXPIRED)
    assert found.deposit is not None and found.deposit.refunded == Money(DEPOSIT)
    assert _gateway_net(app) == (DEPOSIT, DEPOSIT)  # the deposit went back, once
    assert _vehicle_status(app) is VehicleStatus.AVAILABLE


def _run_place_order(ctx: Context, state: State) -> object:
    return place_order(ctx, JOHN, spec_order(state.reservation_id))


def _check_order_holds_the_deposit(app: App, state: State, crashed_at: int | None) -> None:
    """Placing an order moves the deposit onto it in the order's own transaction (the hold, the
    deposit and the order in one statement on PostgreSQL): one order, the deposit counted on it
    once, the hold converted, the car sale-pending; nothing charged or refunded again."""
    with app.ctx.uow() as uow:
        orders = uow.orders.list(customer_id=JOHN.id)
        held = uow.reservations.get(state.reservation_id)
        deposit = uow.ledger.payments_for(reservation_id=state.reservation_id)
    assert len(orders) == 1 and held is not None and held.status is ReservationStatus.CONVERTED
    assert [p.order_id for p in deposit] == [orders[0].id]
    assert orders[0].paid == Money(DEPOSIT) and orders[0].reservation_id == state.reservation_id
    assert _vehicle_status(app) is VehicleStatus.SALE_PENDING
    assert _gateway_net(app) == (DEPOSIT, 0)


def _setup_overdue(app: App, clock: FixedClock) -> State:
    state = _setup_reserved(app, clock)
    clock.advance(timedelta(hours=73))
    return state


def _run_expire(ctx: Context, state: State) -> object:
    return expire_due_reservations(ctx)


def _setup_order(app: App, clock: FixedClock) -> State:
    order = _order(app)
    return State(reservation_id=order.reservation_id, order_id=order.id)


def _run_pay(ctx: Context, state: State) -> object:
    return pay_by_card(ctx, JOHN, state.order_id, token="tok_visa", operation="pay-1")


def _check_paid_once(app: App, state: State, crashed_at: int | None) -> None:
    order = _load_order(app, state.order_id)
    charged, refunded = _gateway_net(app)
    assert refunded == 0
    if order.paid == Money(DEPOSIT + DOWN_PAYMENT):
        assert charged == DEPOSIT + DOWN_PAYMENT  # charged exactly once, counted exactly once
        assert order.balance_due == Money.zero()
    else:
        assert order.paid == Money(DEPOSIT) and charged == DEPOSIT  # no charge was made before the crash
        assert order.balance_due == Money(DOWN_PAYMENT)


def _check_paid_after_retry(app: App, state: State, crashed_at: int | None) -> None:
    _check_paid_once(app, state, crashed_at)
    assert _load_order(app, state.order_id).paid == Money(DEPOSIT + DOWN_PAYMENT)


def _setup_paid_order(app: App, clock: FixedClock) -> State:
    order = _paid_order(app)
    return State(reservation_id=order.reservation_id, order_id=order.id)


def _run_cancel_order(ctx: Context, state: State) -> object:
    return cancel_order(ctx, JOHN, state.order_id)


def _check_closed_and_refunded(app: App, state: State, crashed_at: int | None) -> None:
    order = _load_order(app, state.order_id)
    assert order.status in (OrderStatus.CANCELLED, OrderStatus.RETURNED)
    assert order.refunded == order.paid == Money(DEPOSIT + DOWN_PAYMENT)
    assert _gateway_net(app) == (DEPOSIT + DOWN_PAYMENT, DEPOSIT + DOWN_PAYMENT)
    assert _vehicle_status(app) is VehicleStatus.AVAILABLE


def _setup_delivered(app: App, clock: FixedClock) -> State:
    order = _delivered_order(app)
    return State(reservation_id=order.reservation_id, order_id=order.id)


def _run_return(ctx: Context, state: State) -> object:
    return return_order(ctx, SARAH, state.order_id)


def _run_partial_refund(ctx: Context, state: State) -> object:
    with ctx.uow() as uow:
        payment = next(p for p in uow.ledger.payments_for(order_id=state.order_id) if p.purpose is PaymentPurpose.ORDER)
    return refund_payment(ctx, payment_id=payment.id, amount=Money(12345), reason="goodwill", key_suffix="goodwill")


def _check_partial_refund(app: App, state: State, crashed_at: int | None) -> None:
    assert _gateway_net(app) == (DEPOSIT + DOWN_PAYMENT, 12345)
    order = _load_order(app, state.order_id)
    assert order.refunded == Money(12345) and order.balance_due == Money(12345)


def _run_overpaying_transfer(ctx: Context, state: State) -> object:
    order_number = _order_number(ctx, state.order_id)
    return record_bank_transfer(
        ctx, SARAH, reference=order_number, amount=Money(DOWN_PAYMENT + 1), bank_reference="WIRE-OVER"
    )


def _order_number(ctx: Context, order_id: str) -> str:
    with ctx.uow() as uow:
        order = uow.orders.get(order_id)
    assert order is not None
    return order.number


def _check_overpayment(app: App, state: State, crashed_at: int | None) -> None:
    order = _load_order(app, state.order_id)
    assert order.paid == Money(DEPOSIT + DOWN_PAYMENT + 1) and order.refunded == Money(1)
    assert order.balance_due == Money.zero() and order.excess_paid == Money.zero()
    with app.ctx.uow() as uow:
        refunds = [r for p in uow.ledger.payments_for(order_id=order.id) for r in uow.ledger.refunds_for(p.id)]
    assert [(r.amount, r.reason, r.status) for r in refunds] == [(Money(1), "overpayment", RefundStatus.PENDING)]


def _setup_cancelled_order(app: App, clock: FixedClock) -> State:
    state = _setup_order(app, clock)
    cancel_order(app.ctx, JOHN, state.order_id)
    return state


def _run_late_transfer(ctx: Context, state: State) -> object:
    number = _order_number(ctx, state.order_id)
    return record_bank_transfer(ctx, SARAH, reference=number, amount=Money(DOWN_PAYMENT), bank_reference="WIRE-LATE")


def _check_late_transfer(app: App, state: State, crashed_at: int | None) -> None:
    order = _load_order(app, state.order_id)
    assert order.status is OrderStatus.CANCELLED
    assert order.paid == order.refunded == Money(DEPOSIT + DOWN_PAYMENT)  # recorded, and all of it going back
    with app.ctx.uow() as uow:
        transfer = uow.ledger.get_payment(idempotency_key="transfer:WIRE-LATE")
        assert transfer is not None
        refunds = uow.ledger.refunds_for(transfer.id)
    assert [(r.amount, r.reason, r.status) for r in refunds] == [
        (Money(DOWN_PAYMENT), "order_closed", RefundStatus.PENDING)  # treasury wires it back
    ]


def _setup_second_charge(app: App, clock: FixedClock) -> State:
    """A paid order whose card payment the gateway charged a second time under another key (a
    client retry after Stripe's 24 h window): the ``payment_intent.succeeded`` of that charge is
    what the run delivers."""
    state = _setup_paid_order(app, clock)
    with app.ctx.uow() as uow:
        payment = next(p for p in uow.ledger.payments_for(order_id=state.order_id) if p.purpose is PaymentPurpose.ORDER)
    second = app.ctx.gateway.charge(
        amount=payment.amount,
        source="tok_visa",
        idempotency_key=payment.idempotency_key + ":after-24h",
        description="retried",
        metadata={"order_id": state.order_id, "ledger_id": payment.id},
    )
    assert second.status is ChargeStatus.SUCCEEDED and second.ref != payment.gateway_ref
    return attrs.evolve(state, payment_id=payment.id, result=second)


def _run_duplicate_webhook(ctx: Context, state: State) -> object:
    second = state.result
    assert second is not None and hasattr(second, "ref")
    event = GatewayEvent(
        id="evt_duplicate_1",
        type="payment_intent.succeeded",
        object_ref=second.ref,
        amount=Money(DOWN_PAYMENT),
        status="succeeded",
        created=ctx.clock.now(),
        metadata={"ledger_id": state.payment_id},
        payment_ref=second.ref,
    )
    return handle_gateway_event(ctx, event)


def _check_duplicate_refunded(app: App, state: State, crashed_at: int | None) -> None:
    assert _gateway_net(app) == (DEPOSIT + 2 * DOWN_PAYMENT, DOWN_PAYMENT)  # the second charge went back
    order = _load_order(app, state.order_id)
    assert order.paid == Money(DEPOSIT + DOWN_PAYMENT) and order.refunded == Money.zero()
    with app.ctx.uow() as uow:
        duplicates = [p for p in uow.ledger.payments_for(order_id=order.id) if p.purpose is PaymentPurpose.DUPLICATE]
    assert len(duplicates) == 1 and duplicates[0].refunded == Money(DOWN_PAYMENT)
    timeline = order_to_dict(order_details(app.ctx, SYSTEM, order.id))["timeline"]
    assert isinstance(timeline, list)
    assert "Duplicate charge refunded" in [e["event"] for e in timeline]


COMMIT, BEFORE_CHARGE, AFTER_CHARGE = "commit", "before charge", "after charge"
BEFORE_REFUND, AFTER_REFUND = "before refund", "after refund"
#: Commit, refund sent, outcome recorded: every refund flow's shape (and twice for an order's two payments).
_REFUND = (BEFORE_REFUND, AFTER_REFUND)

FLOWS = [
    Flow(
        "reserve",
        _setup_nothing,
        _run_reserve,
        (COMMIT, BEFORE_CHARGE, AFTER_CHARGE, COMMIT),
        _check_reserve,
    ),
    Flow(
        "reserve, retried with the same key",
        _setup_nothing,
        _run_reserve,
        (COMMIT, BEFORE_CHARGE, AFTER_CHARGE, COMMIT),
        _check_reserve_retried,
        retry=True,
    ),
    Flow(
        "place order",
        _setup_reserved,
        _run_place_order,
        (COMMIT,),
        _check_order_holds_the_deposit,
    ),
    Flow(
        "cancel reservation",
        _setup_reserved,
        _run_cancel_reservation,
        (COMMIT, *_REFUND, COMMIT),
        _check_released,
    ),
    Flow("expire reservation", _setup_overdue, _run_expire, (COMMIT, *_REFUND, COMMIT), _check_released),
    Flow("pay by card", _setup_order, _run_pay, (COMMIT, BEFORE_CHARGE, AFTER_CHARGE, COMMIT), _check_paid_once),
    Flow(
        "pay by card, retried with the same key",
        _setup_order,
        _run_pay,
        (COMMIT, BEFORE_CHARGE, AFTER_CHARGE, COMMIT),
        _check_paid_after_retry,
        retry=True,
    ),
    Flow(
        "cancel order",
        _setup_paid_order,
        _run_cancel_order,
        (COMMIT, *_REFUND, *_REFUND, COMMIT),
        _check_closed_and_refunded,
    ),
    Flow(
        "return order",
        _setup_delivered,
        _run_return,
        (COMMIT, *_REFUND, *_REFUND, COMMIT),
        _check_closed_and_refunded,
    ),
    Flow(
        "partial refund",
        _setup_paid_order,
        _run_partial_refund,
        (COMMIT, *_REFUND, COMMIT),
        _check_partial_refund,
    ),
    Flow("transfer above the balance", _setup_order, _run_overpaying_transfer, (COMMIT,), _check_overpayment),
    Flow("transfer after cancellation", _setup_cancelled_order, _run_late_transfer, (COMMIT,), _check_late_transfer),
    Flow(
        "second charge reported by webhook",
        _setup_second_charge,
        _run_duplicate_webhook,
        (COMMIT, *_REFUND, COMMIT),
        _check_duplicate_refunded,
    ),
]

CASES = [
    pytest.param(flow, index, id=f"{flow.name} / crash after {index}: {label}")
    for flow in FLOWS
    for index, label in enumerate(flow.boundaries)
]


def _recover_and_audit(app: App, clock: FixedClock) -> None:
    """What production does after a crash: the recovery job once its grace has passed (a second
    run finds nothing left), then the audit and reconciliation, both clean."""
    clock.advance(app.ctx.policy.recovery_grace + timedelta(seconds=1))
    recover_payments(app.ctx)
    again = recover_payments(app.ctx)
    assert again.total == 0, f"recovery is not idempotent: {again}"
    audit = audit_ledger(app.ctx, SYSTEM)
    assert audit.is_clean, audit.findings
    since, until = period_of_days(SPEC_NOW.date(), clock.now().date())
    report = reconcile_payments(app.ctx, SYSTEM, since=since, until=until)
    assert report.is_clean, report.counts


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_each_flow_crosses_the_boundaries_in_its_table(app: App, clock: FixedClock, flow: Flow) -> None:
    state = flow.setup(app, clock)
    plan = FaultPlan()
    flow.run(faulty(app.ctx, plan), state)
    assert tuple(plan.trace) == flow.boundaries
    _recover_and_audit(app, clock)
    flow.check(app, state, None)


@pytest.mark.parametrize(("flow", "crash_at"), CASES)
def test_a_crash_at_any_boundary_loses_no_money(app: App, clock: FixedClock, flow: Flow, crash_at: int) -> None:
    state = flow.setup(app, clock)
    plan = FaultPlan(crash_at=crash_at)
    with pytest.raises(Crash):
        flow.run(faulty(app.ctx, plan), state)
    assert plan.trace[-1] == flow.boundaries[crash_at]
    if flow.retry:
        # The client's retry with the same key, on a healthy process: never a second charge,
        # answered with the first attempt's outcome (or finishing it).
        with contextlib.suppress(DomainError):
            flow.run(app.ctx, state)
    _recover_and_audit(app, clock)
    flow.check(app, state, crash_at)


def test_a_declined_deposit_is_recorded_once_whoever_settles_it(app: App, clock: FixedClock) -> None:
    """The decline is recorded even when the crash comes right after the gateway answered; the
    retry with the same key is answered 402 again, from the ledger."""
    from checkout_core.errors import PaymentDeclined

    plan = FaultPlan(crash_at=2)  # after the charge: the decline's answer is lost
    with pytest.raises(Crash):
        reserve_vehicle(
            faulty(app.ctx, plan), JOHN, vehicle_id=CAR, payment_token="tok_chargeDeclined", request_key="declined"
        )
    with pytest.raises(PaymentDeclined):
        reserve_vehicle(app.ctx, JOHN, vehicle_id=CAR, payment_token="tok_chargeDeclined", request_key="declined")
    with pytest.raises(PaymentDeclined):  # and again: the same answer, from the ledger this time
        reserve_vehicle(app.ctx, JOHN, vehicle_id=CAR, payment_token="tok_chargeDeclined", request_key="declined")
    _recover_and_audit(app, clock)
    assert _gateway_net(app) == (0, 0)
    assert _vehicle_status(app) is VehicleStatus.AVAILABLE


# -- inside a transaction: the statement sent, the process dead before its COMMIT ---------------


@contextlib.contextmanager
def _dies_before_commit(app: App, request: pytest.FixtureRequest, nth: int) -> Iterator[None]:
    """The ``nth`` commit (from 0) never happens: on SQL the process dies with the transaction's
    statements sent — the combined writes included, which go with the commit — and its COMMIT
    not (SQLAlchemy's ``commit`` event runs just before the driver's); on the memory adapter it
    dies before the commit. Either way the database keeps what earlier commits left."""
    seen = [0]

    def maybe_die(*_: object) -> None:
        seen[0] += 1
        if seen[0] == nth + 1:
            raise Crash(f"died before commit {nth}")

    if request.node.callspec.params["app"] == "memory":
        factory = app.ctx.uow

        def uow() -> Any:
            inner = factory()
            commit = inner.commit

            def dying_commit() -> None:
                maybe_die()
                commit()

            inner.commit = dying_commit  # type: ignore[method-assign]  # this one unit of work dies there
            return inner

        original = app.ctx
        app.ctx = attrs.evolve(original, uow=uow)
        try:
            yield
        finally:
            app.ctx = original
        return
    engine = request.getfixturevalue("sql_backend_engine")
    event.listen(engine, "commit", maybe_die)
    try:
        yield
    finally:
        event.remove(engine, "commit", maybe_die)


def test_a_reservation_dying_inside_its_claim_leaves_no_hold_and_its_retry_charges_once(
    app: App, clock: FixedClock, request: pytest.FixtureRequest
) -> None:
    """The claim's one transaction — the customer's count with the car's claim, then the hold,
    its deposit intent and the outbox — dies before its COMMIT: no hold, no intent, the car free,
    nothing charged. The client's retry with the same key reserves and charges once.

    On PostgreSQL that step is one statement outside any transaction (``claim_car(hold=…)``),
    atomic on its own: there is no inside to die in, and the first commit the process can die at
    comes after it — the hold and its intent written, nothing charged. The retry then finds that
    hold, asks the gateway (nothing), charges once and confirms it."""
    postgres = request.node.callspec.params["app"] == "postgres"
    with _dies_before_commit(app, request, 0), pytest.raises(Crash):
        _run_reserve(app.ctx, State())
    with app.ctx.uow() as uow:
        holds = uow.reservations.list(customer_id=JOHN.id)
        intents = uow.ledger.payments_for(created_since=clock.now() - timedelta(days=1))
        active = uow.reservations.count_active_for_customer(JOHN.id, clock.now())
    if postgres:
        assert [h.status for h in holds] == [ReservationStatus.PENDING_DEPOSIT]
        assert [p.status for p in intents] == [PaymentStatus.PENDING]
        assert active == 1
        assert _vehicle_status(app) is VehicleStatus.RESERVED
    else:
        assert (holds, intents, active) == ([], [], 0)
        assert _vehicle_status(app) is VehicleStatus.AVAILABLE
    assert _gateway_net(app) == (0, 0)
    _run_reserve(app.ctx, State())
    _recover_and_audit(app, clock)
    _check_reserve_retried(app, State(), None)


def test_an_order_dying_inside_its_transaction_moves_neither_the_deposit_nor_the_car(
    app: App, clock: FixedClock, request: pytest.FixtureRequest
) -> None:
    """Placing the order dies with its one statement sent — the converted hold, the order, the
    car's move and the deposit linked to the order — and its COMMIT not: the deposit stays the
    hold's, unlinked, the car reserved, no order. Placed again, it holds the deposit once."""
    state = _setup_reserved(app, clock)
    with _dies_before_commit(app, request, 0), pytest.raises(Crash):
        _run_place_order(app.ctx, state)
    with app.ctx.uow() as uow:
        assert uow.orders.list(customer_id=JOHN.id) == []
        held = uow.reservations.get(state.reservation_id)
        deposits = uow.ledger.payments_for(reservation_id=state.reservation_id)
    assert held is not None and held.status is ReservationStatus.CONFIRMED
    assert [(p.purpose, p.order_id) for p in deposits] == [(PaymentPurpose.DEPOSIT, None)]
    assert _vehicle_status(app) is VehicleStatus.RESERVED
    _recover_and_audit(app, clock)
    _run_place_order(app.ctx, state)
    _recover_and_audit(app, clock)
    _check_order_holds_the_deposit(app, state, None)
