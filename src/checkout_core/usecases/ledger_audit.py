"""The ledger audit: the business invariants of money (what we owe), checked over our own
records — what reconciliation with the gateway cannot see. The invariants are :data:`INVARIANTS`;
docs/payments.md, "The audit", says what each one catches."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import attrs

from checkout_core.model.order import OPEN_STATUSES, Order, OrderStatus
from checkout_core.model.payments import (
    DisputeStatus,
    Payment,
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
    RefundStatus,
)
from checkout_core.model.reservation import RELEASED_STATUSES
from checkout_core.model.vehicle import VehicleStatus
from checkout_core.money import Money
from checkout_core.ports.unit_of_work import UnitOfWork
from checkout_core.usecases.context import Actor, Context

#: Every invariant the audit checks, with what it means (the CLI prints these).
INVARIANTS: dict[str, str] = {
    "deposit_not_refunded": "every released reservation's deposit is refunded or its refund pending",
    "order_not_refunded": "every cancelled or returned order is refunded what it was paid",
    "overpaid": "no open order holds more than its total due without a pending refund of the excess",
    "order_ledger_mismatch": "an order's paid and refunded totals are what its ledger rows say",
    "duplicate_not_refunded": "every duplicate charge is refunded",
    "car_without_hold": "no car is reserved without a live hold, nor sale_pending without an open order",
    "stale_intent": "no card payment or refund is pending past the recovery grace",
}

_PAGE = 500
_T = TypeVar("_T")


@attrs.frozen(kw_only=True)
class Finding:
    """One invariant that does not hold, for one record."""

    invariant: str
    #: The record it is about (a reservation, order, payment, refund or vehicle id).
    subject: str
    detail: str
    #: The money at stake, in cents, when there is an amount.
    amount: int | None = None


@attrs.frozen(kw_only=True)
class AuditReport:
    """The audit's findings and how many records of each kind it looked at."""

    findings: tuple[Finding, ...]
    checked: dict[str, int] = attrs.field(hash=False)

    @property
    def is_clean(self) -> bool:
        """Every invariant holds (the CLI exits 0 only then)."""
        return not self.findings


def audit_ledger(ctx: Context, actor: Actor) -> AuditReport:
    """Check every money invariant over all our records. Advisors and system jobs only.

    Reads in one unit of work, page by page. Run while traffic flows, a money flow caught between
    two of its transactions can show as a finding for a moment; ``stale_intent`` and the others
    are meant to be read after the recovery job has had its grace period."""
    actor.require_staff()
    now = ctx.clock.now()
    stale_before = now - ctx.policy.recovery_grace
    findings: list[Finding] = []
    checked = {"reservations": 0, "orders": 0, "vehicles": 0, "pendingIntents": 0}
    with ctx.uow() as uow:
        given_back = _lost_disputes(uow)
        for reservation_status in sorted(RELEASED_STATUSES):
            for holds in _pages(functools.partial(uow.reservations.list, status=reservation_status)):
                checked["reservations"] += len(holds)
                keys = [r.deposit_idempotency_key for r in holds]
                deposits = {p.idempotency_key: p for p in uow.ledger.payments_for(idempotency_keys=keys)}
                for reservation in holds:
                    deposit = deposits.get(reservation.deposit_idempotency_key)
                    if deposit is None or deposit.order_id is not None:
                        continue
                    owed = _owed(deposit, given_back)
                    if owed > 0:
                        findings.append(
                            Finding(
                                invariant="deposit_not_refunded",
                                subject=reservation.id,
                                detail=f"reservation {reservation.status.value}; payment {deposit.id} still holds "
                                f"{Money(owed).format()}" + _refused(uow, deposit),
                                amount=owed,
                            )
                        )
        open_cars: set[str] = set()
        for order_status in OrderStatus:
            for orders in _pages(functools.partial(uow.orders.list, status=order_status)):
                checked["orders"] += len(orders)
                for order in orders:
                    if order.status in OPEN_STATUSES:
                        open_cars.add(order.vehicle_id)
                    findings.extend(_order_findings(uow, order, given_back))
        for cars in _pages(functools.partial(uow.vehicles.list, status=VehicleStatus.RESERVED)):
            checked["vehicles"] += len(cars)
            findings.extend(
                Finding(invariant="car_without_hold", subject=v.id, detail="reserved, but no hold is live")
                for v in cars
                if uow.reservations.active_for_vehicle(v.id) is None
            )
        for cars in _pages(functools.partial(uow.vehicles.list, status=VehicleStatus.SALE_PENDING)):
            checked["vehicles"] += len(cars)
            findings.extend(
                Finding(invariant="car_without_hold", subject=v.id, detail="sale_pending, but no order for it is open")
                for v in cars
                if v.id not in open_cars
            )
        stale_payments = [
            p
            for p in uow.ledger.payments_for(status=PaymentStatus.PENDING, created_before=stale_before, limit=_PAGE)
            if p.method is PaymentMethod.CARD
        ]
        stale_refunds = uow.ledger.refunds_for(
            status=RefundStatus.PENDING, method=PaymentMethod.CARD, updated_before=stale_before, limit=_PAGE
        )
        checked["pendingIntents"] = len(stale_payments) + len(stale_refunds)
        findings.extend(
            Finding(
                invariant="stale_intent",
                subject=p.id,
                detail=f"{p.purpose.value} card payment pending since {p.created_at.isoformat()}",
                amount=p.amount.cents,
            )
            for p in stale_payments
        )
        findings.extend(
            Finding(
                invariant="stale_intent",
                subject=r.id,
                detail=f"card refund ({r.reason}) of payment {r.payment_id} pending since {r.updated_at.isoformat()}",
                amount=r.amount.cents,
            )
            for r in stale_refunds
        )
    return AuditReport(findings=tuple(findings), checked=checked)


def _order_findings(uow: UnitOfWork, order: Order, given_back: dict[str, int]) -> Iterator[Finding]:
    payments = uow.ledger.payments_for(order_id=order.id)
    counted = [p for p in payments if p.purpose is not PaymentPurpose.DUPLICATE and p.status is PaymentStatus.SUCCEEDED]
    paid = sum(p.amount.cents for p in counted)
    refunded = sum(p.refunded.cents for p in counted)
    if paid != order.paid.cents or refunded != order.refunded.cents:
        yield Finding(
            invariant="order_ledger_mismatch",
            subject=order.id,
            detail=f"order says paid {order.paid.cents}, refunded {order.refunded.cents}; "
            f"its ledger rows say paid {paid}, refunded {refunded}",
        )
    if order.is_closed:
        for payment in counted:
            owed = _owed(payment, given_back)
            if owed > 0:
                yield Finding(
                    invariant="order_not_refunded",
                    subject=order.id,
                    detail=f"order {order.status.value}; payment {payment.id} still holds {Money(owed).format()}"
                    + _refused(uow, payment),
                    amount=owed,
                )
    elif order.excess_paid.cents > 0:
        yield Finding(
            invariant="overpaid",
            subject=order.id,
            detail=f"holds {order.excess_paid.format()} more than the buyer owes, with no refund of it pending",
            amount=order.excess_paid.cents,
        )
    for payment in payments:
        if payment.purpose is PaymentPurpose.DUPLICATE and payment.refundable.cents > 0:
            yield Finding(
                invariant="duplicate_not_refunded",
                subject=payment.id,
                detail=f"second charge {payment.gateway_ref} for order {order.id} not refunded"
                + _refused(uow, payment),
                amount=payment.refundable.cents,
            )


def _owed(payment: Payment, given_back: dict[str, int]) -> int:
    """Cents of ``payment`` we still hold: refundable less what a lost chargeback gave back."""
    return max(0, payment.refundable.cents - given_back.get(payment.id, 0))


def _refused(uow: UnitOfWork, payment: Payment) -> str:
    """A note for a finding whose payment had a refund refused (it is never retried on its own)."""
    failed = [r for r in uow.ledger.refunds_for(payment.id) if r.status is RefundStatus.FAILED]
    return f" (refund {failed[-1].id} was refused: {failed[-1].failure_code}; a person must act)" if failed else ""


def _lost_disputes(uow: UnitOfWork) -> dict[str, int]:
    """Cents each payment's lost chargebacks gave back to the cardholder."""
    lost: dict[str, int] = {}
    for dispute in uow.ledger.disputes(status=DisputeStatus.LOST, limit=1_000_000):
        lost[dispute.payment_id] = lost.get(dispute.payment_id, 0) + dispute.amount.cents
    return lost


def _pages(fetch: Callable[..., Sequence[_T]]) -> Iterator[Sequence[_T]]:
    """Pages of ``fetch(limit=, offset=)`` until a short one."""
    offset = 0
    while True:
        page = fetch(limit=_PAGE, offset=offset)
        if page:
            yield page
        if len(page) < _PAGE:
            return
        offset += _PAGE
