"""The spec's JSON shapes (camelCase, cents, ISO 8601 moments, URLs under ``/api/v1``), built
from the core's values. The HTTP API types them with its response Structs
(``entrypoints.http.schemas``); the CLI's ``--json`` prints the very same dicts, so the two never
disagree."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from checkout_core.model.audit import AuditEntry
from checkout_core.model.disclosures import checklist_of
from checkout_core.model.order import DocumentKind, Order
from checkout_core.model.parties import Address
from checkout_core.model.payments import Payment
from checkout_core.model.reservation import Reservation
from checkout_core.model.vehicle import Disclosure, Vehicle
from checkout_core.money import Money
from checkout_core.ports.documents import SealReport
from checkout_core.ports.payments import GatewayRecord
from checkout_core.pricing.quote import Pricing
from checkout_core.usecases.ledger_audit import INVARIANTS, AuditReport
from checkout_core.usecases.order_view import (
    NextStep,
    OrderDetails,
    PaymentProgress,
    TimelineEntry,
    next_steps,
    payment_progress,
    timeline,
)
from checkout_core.usecases.reconciliation import LedgerEntry, Pair, ReconciliationReport
from checkout_core.usecases.signing_audit import DocumentsVerification

__all__ = [
    "API",
    "BUCKETS",
    "address_to_dict",
    "audit_entry_to_dict",
    "audit_report_to_dict",
    "disclosures_to_list",
    "iso",
    "order_to_dict",
    "order_url",
    "reconciliation_to_dict",
    "reservation_to_dict",
    "seal_to_dict",
    "vehicle_contents_to_dict",
    "vehicle_to_dict",
    "verification_to_dict",
]

#: Where the API lives; the URLs in its answers start here.
API = "/api/v1"


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, to the second (``2025-12-23T11:00:00Z``): every moment the
    API and the CLI show."""
    if moment is None:
        return None
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="seconds")[:-6] + "Z"  # "+00:00" → "Z"


def order_url(order_id: str) -> str:
    """The order's resource URL."""
    return f"{API}/orders/{order_id}"


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
    url = order_url(order.id)
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
            **(vehicle_contents_to_dict(vehicle) if vehicle else {}),
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
        "payment": payment_to_dict(payment_progress(order)),
        "nextSteps": [next_step_to_dict(url, step) for step in next_steps(order)],
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
        "timeline": [timeline_entry_to_dict(entry) for entry in timeline(order, details.events)],
        "createdAt": iso(order.created_at),
        "updatedAt": iso(order.updated_at),
        "completedAt": iso(order.completed_at),
    }


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def payment_to_dict(progress: PaymentProgress) -> dict[str, Any]:
    """The order's payment block."""
    return {
        "method": progress.method.value,
        "depositPaid": progress.deposit_paid.cents,
        "downPaymentPaid": progress.down_payment_paid.cents,
        "financingAmount": progress.financing_amount.cents,
        "monthlyPayment": progress.monthly_payment.cents if progress.monthly_payment else None,
        # Decimal → float through its text, so 6.99 stays 6.99 on the wire.
        "aprPercent": float(str(progress.apr_percent)) if progress.apr_percent is not None else None,
        "termMonths": progress.term_months,
        "financingApplicationId": progress.financing_application_id,
        "amountDueFromBuyer": progress.amount_due_from_buyer.cents,
        "totalPaid": progress.total_paid.cents,
        "balanceDue": progress.balance_due.cents,
        "refunded": progress.refunded.cents,
    }


def next_step_to_dict(url: str, step: NextStep) -> dict[str, str]:
    """A next step with the URL of the resource it is taken on."""
    return {"step": step.step, "status": step.status, "url": f"{url}/{step.resource}" if step.resource else url}


def timeline_entry_to_dict(entry: TimelineEntry) -> dict[str, Any]:
    """A timeline entry, its moment to the second."""
    return {"event": entry.event, "timestamp": iso(entry.at), "status": entry.status}


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
        **vehicle_contents_to_dict(vehicle),
    }


def vehicle_contents_to_dict(vehicle: Vehicle) -> dict[str, Any]:
    """What the agreement says about the car beyond its description: stock number, safety
    certificate (or sold as is), warranty, and the full disclosure checklist with each answer."""
    return {
        "stockNumber": vehicle.stock_number or None,
        "safetyCertificate": vehicle.safety_certificate or None,
        "soldAsIs": vehicle.sold_as_is,
        "warranty": {"kind": vehicle.warranty.kind.value, "detail": vehicle.warranty.detail},
        "disclosureChecklist": [
            {"kind": kind, "answer": answer, "details": details}
            for kind, answer, details in _checklist_rows(vehicle.disclosures)
        ],
    }


@functools.lru_cache(maxsize=1024)
def _checklist_rows(disclosures: tuple[Disclosure, ...]) -> tuple[tuple[str, str, str], ...]:
    # Kept per distinct list of disclosures (most cars declare none or the same few): every read
    # of an order shows the checklist, and its 15 answers and their 30 enum values were a fifth of
    # the order body's CPU. Plain strings, so the cached rows are safe to share.
    return tuple((item.kind.value, item.answer.value, item.details) for item in checklist_of(disclosures))


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
        "seals": [seal_to_dict(document_id, seal) for document_id, seal in result.seals],
    }


def seal_to_dict(document_id: str, seal: SealReport) -> dict[str, Any]:
    """A signed copy's seal check: its PAdES level, signer and RFC 3161 timestamp."""
    return {
        "documentId": document_id,
        "level": seal.level,
        "ok": seal.ok,
        "signer": seal.signer,
        "timestamp": None
        if seal.timestamp_at is None
        else {"at": iso(seal.timestamp_at), "authority": seal.timestamp_authority, "trusted": seal.timestamp_trusted},
        "problem": seal.problem,
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


# -- reconciliation and the ledger audit, as the API and the CLI show them ---------------------------

#: Bucket names on the wire (camelCase), in the order reports list them.
BUCKETS = ("matched", "missingInLedger", "missingAtGateway", "amountMismatch", "statusMismatch")


def _money_fields(amount: Money) -> dict[str, Any]:
    return {"amount": amount.cents, "currency": amount.currency.lower()}


def ledger_entry_to_dict(entry: LedgerEntry) -> dict[str, Any]:
    """One of our ledger rows in a report (camelCase, cents)."""
    return {
        "kind": entry.kind,
        "id": entry.id,
        "paymentId": entry.payment_id,
        **_money_fields(entry.amount),
        "status": entry.status,
        "idempotencyKey": entry.idempotency_key,
        "gatewayRef": entry.gateway_ref,
        "createdAt": iso(entry.created_at),
    }


def gateway_record_to_dict(record: GatewayRecord) -> dict[str, Any]:
    """One gateway record in a report (camelCase, cents)."""
    return {
        "kind": record.kind,
        "ref": record.ref,
        **_money_fields(record.amount),
        "status": record.status,
        "idempotencyKey": record.idempotency_key,
        "ledgerId": record.ledger_id,
        "createdAt": iso(record.created_at),
    }


def pair_to_dict(pair: Pair) -> dict[str, Any]:
    """A ledger row and the gateway record it was paired with."""
    return {
        "matchedBy": _camel_word(pair.matched_by),
        "ledger": ledger_entry_to_dict(pair.ledger),
        "gateway": gateway_record_to_dict(pair.gateway),
    }


def _camel_word(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def reconciliation_to_dict(report: ReconciliationReport) -> dict[str, Any]:
    """The report as the API and ``checkout payments reconcile --json`` show it: the period, the
    gateway, ``clean``, and each bucket with its ``count`` and ``items``."""
    buckets: dict[str, list[dict[str, Any]]] = {
        "matched": [pair_to_dict(p) for p in report.matched],
        "missingInLedger": [gateway_record_to_dict(r) for r in report.missing_in_ledger],
        "missingAtGateway": [ledger_entry_to_dict(e) for e in report.missing_at_gateway],
        "amountMismatch": [pair_to_dict(p) for p in report.amount_mismatch],
        "statusMismatch": [pair_to_dict(p) for p in report.status_mismatch],
    }
    return {
        "since": iso(report.since),
        "until": iso(report.until),
        "gateway": report.gateway,
        "clean": report.is_clean,
        "buckets": {name: {"count": len(buckets[name]), "items": buckets[name]} for name in BUCKETS},
        "duplicateCharges": {
            "count": len(report.duplicate_charges),
            "items": [ledger_entry_to_dict(e) for e in report.duplicate_charges],
        },
    }


def audit_report_to_dict(report: AuditReport) -> dict[str, Any]:
    """The audit as ``--json`` and the API show it (camelCase)."""
    return {
        "clean": report.is_clean,
        "checked": dict(report.checked),
        "findings": [
            {"invariant": f.invariant, "subject": f.subject, "detail": f.detail, "amount": f.amount}
            for f in report.findings
        ],
        "counts": {name: sum(1 for f in report.findings if f.invariant == name) for name in INVARIANTS},
    }


def pricing_to_dict(pricing: Pricing) -> dict[str, Any]:
    """The spec's JSON ``pricing`` object: camelCase keys, amounts in cents.

    ``tradeInCredit`` is negated, as the spec shows it (it reduces the price). Rates are
    floats made from the Decimal's text, so ``Decimal("0.13")`` becomes exactly ``0.13``.
    """
    return {
        "vehiclePrice": pricing.vehicle_price.cents,
        "tradeInCredit": -pricing.trade_in_credit.cents,
        "adminFee": pricing.admin_fee.cents,
        "documentationFee": pricing.documentation_fee.cents,
        "subtotal": pricing.subtotal.cents,
        "taxRate": float(str(pricing.tax.rate)),
        "taxAmount": pricing.tax.total.cents,
        "licenceFee": pricing.licence_fee.cents,
        "totalDue": pricing.total_due.cents,
        "taxes": [
            {"kind": line.kind, "rate": float(str(line.rate)), "amount": line.amount.cents}
            for line in pricing.tax.lines
        ],
        "province": pricing.province,
    }
