"""Placing an order: a confirmed reservation becomes an order, priced, with an advisor and its
purchase agreement. Amounts never come from the client: trade-in credit and financing are read
from their stored records, the deposit from our ledger."""

from __future__ import annotations

from datetime import datetime

import attrs

from checkout_core.errors import AmountMismatch, Conflict, NotFound, ReservationMismatch, ValidationFailed
from checkout_core.events import AdvisorAssigned, OrderPlaced
from checkout_core.model.local_day import local_day
from checkout_core.model.order import Delivery, Order, OrderStatus, PaymentChoice, PaymentPlan, TradeIn, order_number
from checkout_core.model.parties import Advisor, ContactInfo, FinancingApplication, FinancingStatus, TradeInOffer
from checkout_core.model.payments import PaymentStatus
from checkout_core.model.vehicle import Vehicle, VehicleStatus
from checkout_core.money import Money
from checkout_core.ports.repositories import StoredEvent
from checkout_core.pricing.financing import financed_amount, monthly_payment
from checkout_core.pricing.quote import price_purchase
from checkout_core.usecases.agreements import attach_agreement
from checkout_core.usecases.context import Actor, Context


@attrs.frozen(kw_only=True)
class PlaceOrder:
    """The checkout form, validated into domain values."""

    reservation_id: str
    vehicle_id: str
    contact: ContactInfo
    trade_in_id: str | None = None
    claimed_trade_in_credit: int | None = None
    payment_method: PaymentChoice = PaymentChoice.CASH
    financing_application_id: str | None = None
    down_payment: Money = attrs.field(factory=Money.zero)
    delivery: Delivery


@attrs.frozen(kw_only=True)
class PlacedOrder:
    """What placing an order wrote: the order, its car and advisor, and the order's events as
    stored with it — everything the order view shows, without reading it back."""

    order: Order
    vehicle: Vehicle
    advisor: Advisor
    events: tuple[StoredEvent, ...]


def place_order(ctx: Context, actor: Actor, command: PlaceOrder) -> Order:
    """Turn a confirmed reservation into an order: price it, assign an advisor, generate and
    store the purchase agreement (or, with ``Policy.agreements_by_worker``, leave it to a
    document worker: see :mod:`checkout_core.usecases.agreements`). Status ``pending_documents``."""
    return place_order_and_report(ctx, actor, command).order


def place_order_and_report(ctx: Context, actor: Actor, command: PlaceOrder) -> PlacedOrder:
    """:func:`place_order`, returning what it wrote (the HTTP answer is built from it)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        # One read for all of it: the reservation (locked), its car, its deposit, the trade-in,
        # the financing application and the advisor (a round trip each cost a fifth of the
        # checkout's).
        found = uow.reservations.get_for_checkout(
            command.reservation_id,
            trade_in_id=command.trade_in_id,
            financing_application_id=command.financing_application_id,
        )
        if found is None or found.reservation.customer_id != actor.id:
            raise NotFound(f"reservation {command.reservation_id} not found")
        reservation, vehicle = found.reservation, found.vehicle
        if reservation.vehicle_id != command.vehicle_id:
            raise ReservationMismatch(
                f"reservation {reservation.id} is for vehicle {reservation.vehicle_id}, not {command.vehicle_id}"
            )
        reservation.ensure_usable_for_order(customer_id=actor.id, now=now)
        if vehicle is None:
            raise NotFound(f"vehicle {reservation.vehicle_id} not found")
        trade_in = _trade_in(found.trade_in, actor, command, now)
        pricing = price_purchase(
            vehicle_price=vehicle.price,
            trade_in_credit=trade_in.credit if trade_in else Money.zero(),
            province=command.contact.address.province,
            # The rates in force on the buyer's local day (20:30 in Toronto is still "today").
            on=local_day(now, command.contact.address.province),
            fees=ctx.policy.fees,
        )
        plan = _payment_plan(found.financing, actor, command, pricing.total_due, reservation.deposit)
        advisor = _pick_advisor(found.advisor)
        order_id = ctx.ids.new("ord")
        # The deposit counts toward the order once it went through; it joins the order in the
        # statement below, only if its status and refunds are still what was read (else Conflict).
        deposit = found.deposit if found.deposit and found.deposit.status is PaymentStatus.SUCCEEDED else None
        if deposit is not None:
            deposit.order_id, deposit.updated_at = order_id, now
        reservation.convert(order_id=order_id, now=now)
        # The number is taken last: its counter row stays locked until commit, and every
        # concurrent checkout of the year waits for it, so the less that follows, the better.
        order = Order(
            id=order_id,
            number=order_number(now.year, uow.orders.next_number(now.year)),
            status=OrderStatus.PENDING_DOCUMENTS,
            vehicle_id=vehicle.id,
            customer_id=actor.id,
            reservation_id=reservation.id,
            contact=command.contact,
            pricing=pricing,
            payment=plan,
            trade_in=trade_in,
            delivery=command.delivery,
            advisor_id=advisor.id,
            created_at=now,
            updated_at=now,
        )
        if deposit is not None:
            order.paid = deposit.amount  # the deposit counts toward the order
        order.raise_event(
            OrderPlaced(
                occurred_at=now,
                order_id=order.id,
                order_number=order.number,
                reservation_id=reservation.id,
                vehicle_id=vehicle.id,
                customer_id=actor.id,
                total_due=pricing.total_due.cents,
            )
        )
        order.raise_event(AdvisorAssigned(occurred_at=now, order_id=order.id, advisor_id=advisor.id))
        if not ctx.policy.agreements_by_worker:
            attach_agreement(ctx, order, vehicle, advisor, now)
        # The reservation (locked since the first read), the order, the car, the deposit and the
        # outbox rows in one statement where that saves round trips. The car must still be held
        # for this reservation: one withdrawn or sold under it refuses the order
        # (VehicleUnavailable), and nothing of it is written.
        with uow.together():
            uow.reservations.save(reservation)
            uow.orders.add(order)
            uow.vehicles.move(vehicle.id, VehicleStatus.SALE_PENDING, expected=VehicleStatus.RESERVED)
            if deposit is not None:
                uow.ledger.save_payment(deposit)
            # Nothing external follows: the HTTP answer may ride in this transaction, even in its
            # statement (a car or deposit that moved under the hold is the request's 409 then).
            uow.mark_final(errors_to_caller=True)
            uow.commit()
        events = tuple(e for e in uow.committed_events if e.aggregate_id == order.id)
    return PlacedOrder(order=order, vehicle=vehicle, advisor=advisor, events=events)


def _trade_in(offer: TradeInOffer | None, actor: Actor, command: PlaceOrder, now: datetime) -> TradeIn | None:
    if command.trade_in_id is None:
        if command.claimed_trade_in_credit not in (None, 0):
            raise ValidationFailed("creditAmount given without a tradeInId", field="tradeIn.tradeInId")
        return None
    if offer is None or offer.customer_id != actor.id:
        raise NotFound(f"trade-in offer {command.trade_in_id} not found")
    if offer.expires_at is not None and now >= offer.expires_at:
        raise ValidationFailed(f"trade-in offer {offer.id} expired", field="tradeIn.tradeInId")
    if command.claimed_trade_in_credit is not None and command.claimed_trade_in_credit != offer.credit.cents:
        raise AmountMismatch(
            f"creditAmount {command.claimed_trade_in_credit} does not match the offer's {offer.credit.cents}",
            field="tradeIn.creditAmount",
            expected=offer.credit.cents,
        )
    return TradeIn(offer_id=offer.id, credit=offer.credit, description=offer.description)


def _payment_plan(
    application: FinancingApplication | None, actor: Actor, command: PlaceOrder, total_due: Money, deposit: Money
) -> PaymentPlan:
    if command.down_payment.is_negative:
        raise ValidationFailed("downPayment must not be negative", field="payment.downPayment")
    if command.payment_method is PaymentChoice.CASH:
        if command.financing_application_id is not None:
            raise ValidationFailed("a cash purchase takes no financing application", field="payment")
        return PaymentPlan(
            method=PaymentChoice.CASH, deposit=deposit, down_payment=Money.zero(), financed_amount=Money.zero()
        )
    if command.financing_application_id is None:
        raise ValidationFailed("financing needs a financingApplicationId", field="payment.financingApplicationId")
    if application is None or application.customer_id != actor.id:
        raise NotFound(f"financing application {command.financing_application_id} not found")
    if application.status is not FinancingStatus.APPROVED:
        raise ValidationFailed(
            f"financing application {application.id} is {application.status.value}, not approved",
            field="payment.financingApplicationId",
        )
    principal = financed_amount(total_due, deposit, command.down_payment)
    if application.max_amount is not None and principal.cents > application.max_amount.cents:
        raise AmountMismatch(
            f"the amount to finance {principal.format()} exceeds the approved {application.max_amount.format()}",
            field="payment.downPayment",
            approved=application.max_amount.cents,
        )
    return PaymentPlan(
        method=PaymentChoice.FINANCE,
        deposit=deposit,
        down_payment=command.down_payment,
        financed_amount=principal,
        financing_application_id=application.id,
        apr_percent=application.apr_percent,
        term_months=application.term_months,
        monthly_payment=monthly_payment(principal, application.apr_percent, application.term_months),
        lender=application.lender,
    )


def _pick_advisor(advisor: Advisor | None) -> Advisor:
    """The active advisor with the fewest open orders (ties: lowest id, for determinism), read
    with the reservation."""
    if advisor is None:
        raise Conflict("no advisor is available to take the order")
    return advisor
