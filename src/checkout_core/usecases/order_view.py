"""The order as the API and the CLI show it (the spec's JSON shapes). ``nextSteps`` and the
``timeline`` are derived from the same stored facts and events, so they can never disagree."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import attrs

from checkout_core.model.audit import AuditEntry
from checkout_core.model.order import (
    DeliveryMethod,
    DeliveryStatus,
    DocumentKind,
    InsuranceStatus,
    Order,
    OrderStatus,
    PaymentChoice,
)
from checkout_core.model.parties import Address, Advisor
from checkout_core.model.payments import Payment
from checkout_core.model.reservation import Reservation
from checkout_core.model.vehicle import Disclosure, Vehicle
from checkout_core.ports.repositories import StoredEvent
from checkout_core.pricing.quote import pricing_to_dict
from checkout_core.usecases.context import Actor, Context
from checkout_core.usecases.orders import PlacedOrder, visible_order
from checkout_core.usecases.signing_audit import DocumentsVerification

API = "/api/v1"


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, to the second (``2025-12-23T11:00:00Z``)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@attrs.frozen(kw_only=True)
class OrderDetails:
    """An order with what its view needs: the car, the advisor and the order's events."""

    order: Order
    vehicle: Vehicle | None
    advisor: Advisor | None
    events: tuple[StoredEvent, ...]


def order_details(ctx: Context, actor: Actor, order_id: str) -> OrderDetails:
    """Everything needed to show one order, read in one unit of work."""
    with ctx.uow() as uow:
        found = uow.orders.get_with_parties(order_id)
        order, vehicle, advisor = found if found is not None else (None, None, None)
        order = visible_order(order, actor, order_id)
        return OrderDetails(
            order=order, vehicle=vehicle, advisor=advisor, events=tuple(uow.outbox.for_aggregate(order.id))
        )


def placed_order_details(placed: PlacedOrder) -> OrderDetails:
    """The view of an order just placed, from what placing it wrote (the same as
    :func:`order_details` would read back)."""
    return OrderDetails(order=placed.order, vehicle=placed.vehicle, advisor=placed.advisor, events=placed.events)


def address_to_dict(address: Address | None) -> dict[str, str] | None:
    """An address in the spec's shape."""
    if address is None:
        return None
    return {
        "street": address.street,
        "city": address.city,
        "province": address.province,
        "postalCode": address.postal_code,
    }


def order_to_dict(details: OrderDetails) -> dict[str, Any]:
    """The spec's order body (POST and GET share it; GET's extra blocks are always present)."""
    order = details.order
    vehicle = details.vehicle
    advisor = details.advisor
    url = f"{API}/orders/{order.id}"
    return {
        "orderId": order.id,
        "orderNumber": order.number,
        "status": order.status.value,
        "vehicleId": order.vehicle_id,
        "customerId": order.customer_id,
        "reservationId": order.reservation_id,
        "vehicle": {
            "id": order.vehicle_id,
            "make": vehicle.make if vehicle else None,
            "model": vehicle.model if vehicle else None,
            "year": vehicle.year if vehicle else None,
            "trim": vehicle.trim if vehicle else None,
            "vin": vehicle.vin if vehicle else None,
            "disclosures": disclosures_to_list(vehicle.disclosures) if vehicle else [],
        },
        "contactInfo": {
            "firstName": order.contact.first_name,
            "lastName": order.contact.last_name,
            "email": order.contact.email,
            "phone": order.contact.phone,
            "address": address_to_dict(order.contact.address),
        },
        "pricing": pricing_to_dict(order.pricing),
        "tradeIn": None
        if order.trade_in is None
        else {"tradeInId": order.trade_in.offer_id, "creditAmount": order.trade_in.credit.cents},
        "payment": _payment(order),
        "nextSteps": next_steps(order),
        "advisor": None
        if advisor is None
        else {"id": advisor.id, "name": advisor.name, "email": advisor.email, "phone": advisor.phone},
        "documents": [
            {
                "id": d.id,
                "type": d.kind.value,
                "status": d.status,
                "signedAt": iso(d.signed_at),
                "url": f"{url}/documents/{d.id}",
                "contentType": d.content_type,
                "sha256": d.sha256,
                "createdAt": iso(d.created_at),
            }
            for d in order.documents
        ]
        + _agreement_in_the_making(order),
        "insurance": None
        if order.insurance is None
        else {
            "insuranceId": order.insurance.id,
            "status": order.insurance.status.value,
            "policyNumber": order.insurance.policy_number,
            "provider": order.insurance.provider,
            "submittedAt": iso(order.insurance.submitted_at),
            "verifiedAt": iso(order.insurance.verified_at),
            "rejectionReason": order.insurance.rejection_reason,
        },
        "delivery": {
            "method": order.delivery.method.value,
            "status": order.delivery.status.value,
            "preferredDate": _day(order.delivery.preferred_date),
            "scheduledDate": _day(order.delivery.scheduled_date),
            "timeWindow": order.delivery.time_window,
            "address": address_to_dict(order.delivery.address),
        },
        "timeline": timeline(order, details.events),
        "createdAt": iso(order.created_at),
        "updatedAt": iso(order.updated_at),
        "completedAt": iso(order.completed_at),
    }


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _payment(order: Order) -> dict[str, Any]:
    plan = order.payment
    paid = order.paid.cents
    deposit_paid = min(paid, plan.deposit.cents)
    beyond_deposit = paid - deposit_paid
    return {
        "method": plan.method.value,
        "depositPaid": deposit_paid,
        "downPaymentPaid": min(beyond_deposit, plan.down_payment.cents) if plan.method is PaymentChoice.FINANCE else 0,
        "financingAmount": plan.financed_amount.cents,
        "monthlyPayment": plan.monthly_payment.cents if plan.monthly_payment else None,
        "aprPercent": float(str(plan.apr_percent)) if plan.apr_percent is not None else None,
        "termMonths": plan.term_months,
        "financingApplicationId": plan.financing_application_id,
        "amountDueFromBuyer": order.due_from_buyer.cents,
        "totalPaid": paid,
        "balanceDue": order.balance_due.cents,
        "refunded": order.refunded.cents,
    }


_STAGE = {
    OrderStatus.PENDING_DOCUMENTS: 0,
    OrderStatus.PENDING_INSURANCE: 1,
    OrderStatus.PENDING_PAYMENT: 2,
    OrderStatus.PENDING_DELIVERY: 3,
    OrderStatus.IN_TRANSIT: 4,
    OrderStatus.DELIVERED: 5,
    OrderStatus.COMPLETED: 6,
}


def next_steps(order: Order) -> list[dict[str, str]]:
    """The buyer's steps up to the order's current stage, each ``pending`` or ``completed``
    (insurance can also be ``submitted`` or ``rejected``). Closed orders have none."""
    stage = _STAGE.get(order.status)
    if stage is None:
        return []
    url = f"{API}/orders/{order.id}"
    signed = stage >= 1
    steps = [{"step": "sign_documents", "status": "completed" if signed else "pending", "url": f"{url}/documents"}]
    insurance = order.insurance
    if insurance is not None and insurance.status is InsuranceStatus.VERIFIED:
        insurance_status = "completed"
    elif insurance is not None and insurance.status is InsuranceStatus.PENDING_VERIFICATION:
        insurance_status = "submitted"
    elif insurance is not None and insurance.status is InsuranceStatus.REJECTED:
        insurance_status = "rejected"
    else:
        insurance_status = "pending"
    steps.append({"step": "upload_insurance", "status": insurance_status, "url": f"{url}/insurance"})
    if stage >= 2:
        steps.append(
            {
                "step": "make_payment",
                "status": "completed" if stage >= 3 else "pending",
                "url": f"{url}/payments",
            }
        )
    if stage >= 3:
        done = order.delivery.status is DeliveryStatus.DELIVERED
        steps.append(
            {
                "step": "take_delivery" if order.delivery.method is DeliveryMethod.DELIVERY else "pick_up_vehicle",
                "status": "completed" if done else "pending",
                "url": url,
            }
        )
    return steps


_LABELS = {
    "OrderPlaced": "Order placed",
    "AdvisorAssigned": "Advisor assigned",
    "PurchaseAgreementGenerated": "Purchase agreement generated",
    "SigningStarted": "Sent for signature",
    "DocumentsSigned": "Documents signed",
    "InsuranceUploaded": "Insurance uploaded",
    "InsuranceRejected": "Insurance rejected",
    "InsuranceVerified": "Insurance verified",
    "PaymentReceived": "Payment received",
    "FullPaymentReceived": "Payment completed",
    "VehicleDispatched": "Vehicle dispatched",
    "VehicleDelivered": "Vehicle delivered",
    "PurchaseCompleted": "Purchase completed",
    "OrderCancelled": "Order cancelled",
    "OrderReturned": "Vehicle returned",
    "RefundIssued": "Refund issued",
    "DuplicateChargeRefunded": "Duplicate charge refunded",
    "DocumentIntegrityFailed": "Document failed its integrity check",
}

#: Timeline entries of events that report a problem rather than a step done.
_FAILED = frozenset({"DocumentIntegrityFailed"})

_WINDOW_START = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*([AaPp][Mm])?")


def timeline(order: Order, events: tuple[StoredEvent, ...]) -> list[dict[str, Any]]:
    """What happened to the order, oldest first, plus the scheduled delivery while it is ahead."""
    entries: list[dict[str, Any]] = [
        {
            "event": _LABELS[e.name],
            "timestamp": iso(e.occurred_at),
            "status": "failed" if e.name in _FAILED else "completed",
        }
        for e in events
        if e.name in _LABELS
    ]
    delivery = order.delivery
    if delivery.scheduled_date is not None and delivery.status in (DeliveryStatus.SCHEDULED, DeliveryStatus.IN_TRANSIT):
        label = "Delivery scheduled" if delivery.method is DeliveryMethod.DELIVERY else "Pickup scheduled"
        entries.append(
            {
                "event": label,
                "timestamp": iso(_appointment(delivery.scheduled_date, delivery.time_window)),
                "status": "pending",
            }
        )
    return entries


def _appointment(day: date, window: str | None) -> datetime:
    hour, minute = 0, 0
    match = _WINDOW_START.match(window or "")
    if match:
        hour, minute = int(match.group(1)) % 12 if match.group(3) else int(match.group(1)), int(match.group(2))
        if match.group(3) and match.group(3).lower() == "pm":
            hour += 12
        hour = min(hour, 23)
        minute = min(minute, 59)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def reservation_to_dict(reservation: Reservation, deposit: Payment | None) -> dict[str, Any]:
    """The spec's reservation body."""
    return {
        "reservationId": reservation.id,
        "vehicleId": reservation.vehicle_id,
        "customerId": reservation.customer_id,
        "status": reservation.status.value,
        "depositAmount": reservation.deposit.cents,
        "depositCharge": None
        if deposit is None or deposit.gateway_ref is None
        else {
            "id": deposit.gateway_ref,
            "amount": deposit.amount.cents,
            "currency": deposit.amount.currency.lower(),
            "status": deposit.status.value,
            "refunded": deposit.refunded.cents,
        },
        "expiresAt": iso(reservation.expires_at),
        "orderId": reservation.order_id,
        "createdAt": iso(reservation.created_at),
    }


def vehicle_to_dict(vehicle: Vehicle) -> dict[str, Any]:
    """A car in API form."""
    return {
        "id": vehicle.id,
        "vin": vehicle.vin,
        "year": vehicle.year,
        "make": vehicle.make,
        "model": vehicle.model,
        "trim": vehicle.trim,
        "colour": vehicle.colour,
        "bodyType": vehicle.body_type,
        "odometerKm": vehicle.odometer_km,
        "price": vehicle.price.cents,
        "status": vehicle.status.value,
        "disclosures": disclosures_to_list(vehicle.disclosures),
    }


def disclosures_to_list(disclosures: Sequence[Disclosure]) -> list[dict[str, str]]:
    """A car's history disclosures in API form."""
    return [{"kind": d.kind.value, "detail": d.detail} for d in disclosures]


def audit_entry_to_dict(entry: AuditEntry) -> dict[str, Any]:
    """One entry of an order's signing audit trail, as the API and the CLI show it.

    The envelope id is left out: with the built-in signer it is the credential in the signing
    link, and the trail is shown to more people (advisors) than the link was given to."""
    return {
        "sequence": entry.sequence,
        "action": entry.action.value,
        "occurredAt": iso(entry.occurred_at),
        "signerName": entry.signer_name,
        "signerEmail": entry.signer_email,
        "ipAddress": entry.ip_address,
        "userAgent": entry.user_agent,
        "documentSha256": entry.document_sha256,
        "prevHash": entry.prev_hash,
        "entryHash": entry.entry_hash,
    }


def verification_to_dict(result: DocumentsVerification) -> dict[str, Any]:
    """What ``checkout documents verify --json`` prints for one order."""
    return {
        "orderId": result.order_id,
        "ok": result.ok,
        "entries": result.entries,
        "documents": result.documents,
        "chainProblems": list(result.chain_problems),
        "documentProblems": list(result.document_problems),
    }


def _agreement_in_the_making(order: Order) -> list[dict[str, Any]]:
    """The agreement a document worker has yet to render (``Policy.agreements_by_worker``),
    listed so that a client knows it is coming; it gets an id and a URL once it exists."""
    if not order.awaits_agreement:
        return []
    return [
        {
            "id": None,
            "type": DocumentKind.PURCHASE_AGREEMENT.value,
            "status": "generating",
            "signedAt": None,
            "url": None,
            "contentType": "application/pdf",
            "sha256": None,
            "createdAt": None,
        }
    ]
