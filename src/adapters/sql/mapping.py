"""Rows ↔ domain objects, written out by hand (the domain is not ORM-mapped).

Nested value objects (contact, pricing, payment plan, trade-in, delivery, documents,
insurance, signing envelope) are stored as JSON documents whose keys are the attrs field
names. The rules that keep the round trip exact:

* money is ``{"cents": int, "currency": str}`` (cents are integers, never floats);
* ``Decimal`` rates are their exact text (``"0.13"``, ``"5.217"``), never JSON numbers;
* datetimes are ISO 8601 with an offset, always UTC; dates are ``YYYY-MM-DD``;
* reading checks every type, so a corrupt document fails loudly instead of producing a
  half-valid aggregate.

The round-trip tests in ``tests/sql`` build objects with every optional field set and compare
them for equality after a trip through the database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from checkout_core.model.order import (
    Delivery,
    DeliveryMethod,
    DeliveryStatus,
    DocumentKind,
    DocumentRecord,
    Insurance,
    InsuranceStatus,
    Order,
    OrderStatus,
    PaymentChoice,
    PaymentPlan,
    SigningEnvelope,
    TradeIn,
)
from checkout_core.model.parties import (
    Address,
    Advisor,
    ContactInfo,
    Customer,
    FinancingApplication,
    FinancingStatus,
    TradeInOffer,
)
from checkout_core.model.payments import (
    Dispute,
    DisputeStatus,
    Payment,
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from checkout_core.model.reservation import Reservation, ReservationStatus
from checkout_core.model.vehicle import Disclosure, DisclosureKind, Vehicle, VehicleStatus
from checkout_core.money import Money
from checkout_core.ports.idempotency import IdempotencyRecord
from checkout_core.ports.repositories import StoredEvent
from checkout_core.pricing.quote import Pricing
from checkout_core.tax.calculator import TaxBreakdown, TaxLine

JsonDict = dict[str, Any]
#: A result row by column name (SQLAlchemy's RowMapping is keyed by names *or* columns).
Row = Mapping[Any, Any]


class CorruptRecord(ValueError):
    """A stored row or document does not have the shape this code writes."""


# -- reading JSON documents with type checks ----------------------------------------------


def _obj(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CorruptRecord(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _str(d: Mapping[str, Any], key: str) -> str:
    value = d.get(key)
    if not isinstance(value, str):
        raise CorruptRecord(f"{key}: expected a string, got {type(value).__name__}")
    return value


def _opt_str(d: Mapping[str, Any], key: str) -> str | None:
    return None if d.get(key) is None else _str(d, key)


def _int(d: Mapping[str, Any], key: str) -> int:
    value = d.get(key)
    # bool is an int subclass; a stored True must not pass for 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise CorruptRecord(f"{key}: expected an integer, got {type(value).__name__}")
    return value


def _opt_int(d: Mapping[str, Any], key: str) -> int | None:
    return None if d.get(key) is None else _int(d, key)


def _decimal(d: Mapping[str, Any], key: str) -> Decimal:
    text = _str(d, key)  # stored as text on purpose: a JSON number would go through float
    try:
        return Decimal(text)
    except InvalidOperation:
        raise CorruptRecord(f"{key}: {text!r} is not a decimal number") from None


def _opt_decimal(d: Mapping[str, Any], key: str) -> Decimal | None:
    return None if d.get(key) is None else _decimal(d, key)


def _decimal_text(value: Decimal) -> str:
    if not isinstance(value, Decimal):
        raise TypeError(f"expected a Decimal, got {type(value).__name__}")
    return str(value)


def datetime_to_json(value: datetime) -> str:
    """Aware datetime → ISO 8601 in UTC (naive datetimes are refused)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"refusing to store a naive datetime: {value!r}")
    return value.astimezone(UTC).isoformat()


def _opt_datetime_to_json(value: datetime | None) -> str | None:
    return None if value is None else datetime_to_json(value)


def _datetime(d: Mapping[str, Any], key: str) -> datetime:
    text = _str(d, key)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CorruptRecord(f"{key}: {text!r} is not an ISO 8601 datetime") from None
    if value.tzinfo is None:
        raise CorruptRecord(f"{key}: {text!r} has no UTC offset")
    return value.astimezone(UTC)


def _opt_datetime(d: Mapping[str, Any], key: str) -> datetime | None:
    return None if d.get(key) is None else _datetime(d, key)


def _date(d: Mapping[str, Any], key: str) -> date:
    text = _str(d, key)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CorruptRecord(f"{key}: {text!r} is not an ISO 8601 date") from None


def _opt_date(d: Mapping[str, Any], key: str) -> date | None:
    return None if d.get(key) is None else _date(d, key)


# -- value objects ------------------------------------------------------------------------


def money_to_json(money: Money) -> JsonDict:
    """``{"cents": …, "currency": …}``."""
    return {"cents": money.cents, "currency": money.currency}


def money_from_json(value: object, what: str = "money") -> Money:
    """The inverse of :func:`money_to_json`."""
    d = _obj(value, what)
    return Money(_int(d, "cents"), _str(d, "currency"))


def _opt_money_to_json(money: Money | None) -> JsonDict | None:
    return None if money is None else money_to_json(money)


def _opt_money(d: Mapping[str, Any], key: str) -> Money | None:
    return None if d.get(key) is None else money_from_json(d[key], key)


def address_to_json(address: Address) -> JsonDict:
    """An address as a JSON object."""
    return {
        "street": address.street,
        "city": address.city,
        "province": address.province,
        "postal_code": address.postal_code,
    }


def address_from_json(value: object) -> Address:
    """The inverse of :func:`address_to_json` (stored addresses were validated on the way in)."""
    d = _obj(value, "address")
    return Address(
        street=_str(d, "street"), city=_str(d, "city"), province=_str(d, "province"), postal_code=_str(d, "postal_code")
    )


def contact_to_json(contact: ContactInfo) -> JsonDict:
    """Contact details as a JSON object."""
    return {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "phone": contact.phone,
        "address": address_to_json(contact.address),
    }


def contact_from_json(value: object) -> ContactInfo:
    """The inverse of :func:`contact_to_json`."""
    d = _obj(value, "contact")
    return ContactInfo(
        first_name=_str(d, "first_name"),
        last_name=_str(d, "last_name"),
        email=_str(d, "email"),
        phone=_str(d, "phone"),
        address=address_from_json(d.get("address")),
    )


def tax_line_to_json(line: TaxLine) -> JsonDict:
    """One tax component."""
    return {"kind": line.kind, "rate": _decimal_text(line.rate), "amount": money_to_json(line.amount)}


def tax_line_from_json(value: object) -> TaxLine:
    """The inverse of :func:`tax_line_to_json`."""
    d = _obj(value, "tax line")
    return TaxLine(kind=_str(d, "kind"), rate=_decimal(d, "rate"), amount=money_from_json(d.get("amount"), "amount"))


def tax_to_json(tax: TaxBreakdown) -> JsonDict:
    """The tax breakdown (its own consistency checks run again when it is read back)."""
    return {
        "province": tax.province,
        "taxable": money_to_json(tax.taxable),
        "lines": [tax_line_to_json(line) for line in tax.lines],
        "total": money_to_json(tax.total),
        "rate": _decimal_text(tax.rate),
    }


def tax_from_json(value: object) -> TaxBreakdown:
    """The inverse of :func:`tax_to_json`."""
    d = _obj(value, "tax")
    lines = d.get("lines")
    if not isinstance(lines, list):
        raise CorruptRecord("tax.lines: expected a list")
    return TaxBreakdown(
        province=_str(d, "province"),
        taxable=money_from_json(d.get("taxable"), "taxable"),
        lines=tuple(tax_line_from_json(line) for line in lines),
        total=money_from_json(d.get("total"), "total"),
        rate=_decimal(d, "rate"),
    )


def pricing_to_json(pricing: Pricing) -> JsonDict:
    """The itemised price."""
    return {
        "province": pricing.province,
        "priced_on": pricing.priced_on.isoformat(),
        "vehicle_price": money_to_json(pricing.vehicle_price),
        "trade_in_credit": money_to_json(pricing.trade_in_credit),
        "admin_fee": money_to_json(pricing.admin_fee),
        "documentation_fee": money_to_json(pricing.documentation_fee),
        "subtotal": money_to_json(pricing.subtotal),
        "tax": tax_to_json(pricing.tax),
        "total_due": money_to_json(pricing.total_due),
    }


def pricing_from_json(value: object) -> Pricing:
    """The inverse of :func:`pricing_to_json`."""
    d = _obj(value, "pricing")
    return Pricing(
        province=_str(d, "province"),
        priced_on=_date(d, "priced_on"),
        vehicle_price=money_from_json(d.get("vehicle_price"), "vehicle_price"),
        trade_in_credit=money_from_json(d.get("trade_in_credit"), "trade_in_credit"),
        admin_fee=money_from_json(d.get("admin_fee"), "admin_fee"),
        documentation_fee=money_from_json(d.get("documentation_fee"), "documentation_fee"),
        subtotal=money_from_json(d.get("subtotal"), "subtotal"),
        tax=tax_from_json(d.get("tax")),
        total_due=money_from_json(d.get("total_due"), "total_due"),
    )


def payment_plan_to_json(plan: PaymentPlan) -> JsonDict:
    """Cash or financing, with the financing terms copied from the application."""
    return {
        "method": plan.method.value,
        "deposit": money_to_json(plan.deposit),
        "down_payment": money_to_json(plan.down_payment),
        "financed_amount": money_to_json(plan.financed_amount),
        "financing_application_id": plan.financing_application_id,
        "apr_percent": None if plan.apr_percent is None else _decimal_text(plan.apr_percent),
        "term_months": plan.term_months,
        "monthly_payment": _opt_money_to_json(plan.monthly_payment),
        "lender": plan.lender,
    }


def payment_plan_from_json(value: object) -> PaymentPlan:
    """The inverse of :func:`payment_plan_to_json`."""
    d = _obj(value, "payment_plan")
    return PaymentPlan(
        method=PaymentChoice(_str(d, "method")),
        deposit=money_from_json(d.get("deposit"), "deposit"),
        down_payment=money_from_json(d.get("down_payment"), "down_payment"),
        financed_amount=money_from_json(d.get("financed_amount"), "financed_amount"),
        financing_application_id=_opt_str(d, "financing_application_id"),
        apr_percent=_opt_decimal(d, "apr_percent"),
        term_months=_opt_int(d, "term_months"),
        monthly_payment=_opt_money(d, "monthly_payment"),
        lender=_opt_str(d, "lender"),
    )


def trade_in_to_json(trade_in: TradeIn) -> JsonDict:
    """The trade-in credit applied to an order."""
    return {
        "offer_id": trade_in.offer_id,
        "credit": money_to_json(trade_in.credit),
        "description": trade_in.description,
    }


def trade_in_from_json(value: object) -> TradeIn:
    """The inverse of :func:`trade_in_to_json`."""
    d = _obj(value, "trade_in")
    return TradeIn(
        offer_id=_str(d, "offer_id"),
        credit=money_from_json(d.get("credit"), "credit"),
        description=_str(d, "description"),
    )


def delivery_to_json(delivery: Delivery) -> JsonDict:
    """Delivery or pickup details."""
    return {
        "method": delivery.method.value,
        "address": None if delivery.address is None else address_to_json(delivery.address),
        "preferred_date": None if delivery.preferred_date is None else delivery.preferred_date.isoformat(),
        "scheduled_date": None if delivery.scheduled_date is None else delivery.scheduled_date.isoformat(),
        "time_window": delivery.time_window,
        "status": delivery.status.value,
    }


def delivery_from_json(value: object) -> Delivery:
    """The inverse of :func:`delivery_to_json`."""
    d = _obj(value, "delivery")
    return Delivery(
        method=DeliveryMethod(_str(d, "method")),
        address=None if d.get("address") is None else address_from_json(d["address"]),
        preferred_date=_opt_date(d, "preferred_date"),
        scheduled_date=_opt_date(d, "scheduled_date"),
        time_window=_opt_str(d, "time_window"),
        status=DeliveryStatus(_str(d, "status")),
    )


def document_to_json(document: DocumentRecord) -> JsonDict:
    """One stored document of an order."""
    return {
        "id": document.id,
        "kind": document.kind.value,
        "storage_key": document.storage_key,
        "sha256": document.sha256,
        "content_type": document.content_type,
        "size": document.size,
        "created_at": datetime_to_json(document.created_at),
        "status": document.status,
        "signed_at": _opt_datetime_to_json(document.signed_at),
    }


def document_from_json(value: object) -> DocumentRecord:
    """The inverse of :func:`document_to_json`."""
    d = _obj(value, "document")
    return DocumentRecord(
        id=_str(d, "id"),
        kind=DocumentKind(_str(d, "kind")),
        storage_key=_str(d, "storage_key"),
        sha256=_str(d, "sha256"),
        content_type=_str(d, "content_type"),
        size=_int(d, "size"),
        created_at=_datetime(d, "created_at"),
        status=_str(d, "status"),
        signed_at=_opt_datetime(d, "signed_at"),
    )


def insurance_to_json(insurance: Insurance) -> JsonDict:
    """The latest proof of insurance."""
    return {
        "id": insurance.id,
        "policy_number": insurance.policy_number,
        "provider": insurance.provider,
        "document_id": insurance.document_id,
        "status": insurance.status.value,
        "submitted_at": datetime_to_json(insurance.submitted_at),
        "verified_at": _opt_datetime_to_json(insurance.verified_at),
        "rejection_reason": insurance.rejection_reason,
    }


def insurance_from_json(value: object) -> Insurance:
    """The inverse of :func:`insurance_to_json`."""
    d = _obj(value, "insurance")
    return Insurance(
        id=_str(d, "id"),
        policy_number=_str(d, "policy_number"),
        provider=_str(d, "provider"),
        document_id=_str(d, "document_id"),
        status=InsuranceStatus(_str(d, "status")),
        submitted_at=_datetime(d, "submitted_at"),
        verified_at=_opt_datetime(d, "verified_at"),
        rejection_reason=_opt_str(d, "rejection_reason"),
    )


def envelope_to_json(envelope: SigningEnvelope) -> JsonDict:
    """The open signing envelope."""
    return {
        "id": envelope.id,
        "provider": envelope.provider,
        "signature_url": envelope.signature_url,
        "expires_at": datetime_to_json(envelope.expires_at),
        "status": envelope.status,
    }


def envelope_from_json(value: object) -> SigningEnvelope:
    """The inverse of :func:`envelope_to_json`."""
    d = _obj(value, "envelope")
    return SigningEnvelope(
        id=_str(d, "id"),
        provider=_str(d, "provider"),
        signature_url=_str(d, "signature_url"),
        expires_at=_datetime(d, "expires_at"),
        status=_str(d, "status"),
    )


# -- rows ---------------------------------------------------------------------------------


def _currency(*amounts: Money | None) -> str:
    """The one currency of a row's amounts (a row has a single ``currency`` column)."""
    currencies = {m.currency for m in amounts if m is not None}
    if len(currencies) > 1:
        raise ValueError(f"one row cannot hold amounts in several currencies: {sorted(currencies)}")
    return currencies.pop() if currencies else "CAD"


def vehicle_to_row(vehicle: Vehicle) -> JsonDict:
    """Column values of a ``vehicles`` row."""
    return {
        "id": vehicle.id,
        "vin": vehicle.vin,
        "year": vehicle.year,
        "make": vehicle.make,
        "model": vehicle.model,
        "trim": vehicle.trim,
        "colour": vehicle.colour,
        "body_type": vehicle.body_type,
        "odometer_km": vehicle.odometer_km,
        "price_cents": vehicle.price.cents,
        "currency": vehicle.price.currency,
        "status": vehicle.status.value,
        "disclosures": [{"kind": d.kind.value, "detail": d.detail} for d in vehicle.disclosures],
    }


def _disclosure(value: object) -> Disclosure:
    d = _obj(value, "disclosure")
    return Disclosure(kind=DisclosureKind(_str(d, "kind")), detail=_str(d, "detail"))


def vehicle_from_row(row: Row) -> Vehicle:
    """A ``vehicles`` row as a Vehicle."""
    return Vehicle(
        id=row["id"],
        vin=row["vin"],
        year=row["year"],
        make=row["make"],
        model=row["model"],
        trim=row["trim"],
        colour=row["colour"],
        body_type=row["body_type"],
        odometer_km=row["odometer_km"],
        price=Money(int(row["price_cents"]), row["currency"]),
        status=VehicleStatus(row["status"]),
        disclosures=tuple(_disclosure(d) for d in row["disclosures"] or ()),
    )


def reservation_to_row(reservation: Reservation) -> JsonDict:
    """Column values of a ``reservations`` row."""
    return {
        "id": reservation.id,
        "vehicle_id": reservation.vehicle_id,
        "customer_id": reservation.customer_id,
        "status": reservation.status.value,
        "deposit_cents": reservation.deposit.cents,
        "currency": reservation.deposit.currency,
        "hold_hours": reservation.hold_hours,
        "created_at": reservation.created_at,
        "expires_at": reservation.expires_at,
        "charge_id": reservation.charge_id,
        "order_id": reservation.order_id,
        "updated_at": reservation.updated_at,
    }


def reservation_from_row(row: Row) -> Reservation:
    """A ``reservations`` row as a Reservation (with no pending events)."""
    return Reservation(
        id=row["id"],
        vehicle_id=row["vehicle_id"],
        customer_id=row["customer_id"],
        status=ReservationStatus(row["status"]),
        deposit=Money(int(row["deposit_cents"]), row["currency"]),
        hold_hours=row["hold_hours"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        charge_id=row["charge_id"],
        order_id=row["order_id"],
        updated_at=row["updated_at"],
    )


def order_to_row(order: Order) -> JsonDict:
    """Column values of an ``orders`` row (``version`` is managed by the repository)."""
    return {
        "id": order.id,
        "number": order.number,
        "status": order.status.value,
        "vehicle_id": order.vehicle_id,
        "customer_id": order.customer_id,
        "reservation_id": order.reservation_id,
        "advisor_id": order.advisor_id,
        "contact": contact_to_json(order.contact),
        "pricing": pricing_to_json(order.pricing),
        "payment_plan": payment_plan_to_json(order.payment),
        "trade_in": None if order.trade_in is None else trade_in_to_json(order.trade_in),
        "delivery": delivery_to_json(order.delivery),
        "documents": [document_to_json(d) for d in order.documents],
        "insurance": None if order.insurance is None else insurance_to_json(order.insurance),
        "envelope": None if order.envelope is None else envelope_to_json(order.envelope),
        "paid_cents": order.paid.cents,
        "refunded_cents": order.refunded.cents,
        "currency": _currency(order.paid, order.refunded),
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "delivered_at": order.delivered_at,
        "completed_at": order.completed_at,
        "closed_reason": order.closed_reason,
        "version": order.version,
        "awaits_agreement": order.awaits_agreement,
    }


def order_from_row(row: Row) -> Order:
    """An ``orders`` row as an Order (with no pending events)."""
    documents = row["documents"]
    if not isinstance(documents, Sequence) or isinstance(documents, str):
        raise CorruptRecord("orders.documents: expected a list")
    currency = row["currency"]
    return Order(
        id=row["id"],
        number=row["number"],
        status=OrderStatus(row["status"]),
        vehicle_id=row["vehicle_id"],
        customer_id=row["customer_id"],
        reservation_id=row["reservation_id"],
        contact=contact_from_json(row["contact"]),
        pricing=pricing_from_json(row["pricing"]),
        payment=payment_plan_from_json(row["payment_plan"]),
        trade_in=None if row["trade_in"] is None else trade_in_from_json(row["trade_in"]),
        delivery=delivery_from_json(row["delivery"]),
        advisor_id=row["advisor_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        documents=[document_from_json(d) for d in documents],
        insurance=None if row["insurance"] is None else insurance_from_json(row["insurance"]),
        envelope=None if row["envelope"] is None else envelope_from_json(row["envelope"]),
        paid=Money(int(row["paid_cents"]), currency),
        refunded=Money(int(row["refunded_cents"]), currency),
        delivered_at=row["delivered_at"],
        completed_at=row["completed_at"],
        closed_reason=row["closed_reason"],
        version=row["version"],
    )


def payment_to_row(payment: Payment) -> JsonDict:
    """Column values of a ``payments`` row."""
    return {
        "id": payment.id,
        "purpose": payment.purpose.value,
        "method": payment.method.value,
        "amount_cents": payment.amount.cents,
        "refunded_cents": payment.refunded.cents,
        "currency": _currency(payment.amount, payment.refunded),
        "status": payment.status.value,
        "idempotency_key": payment.idempotency_key,
        "reservation_id": payment.reservation_id,
        "order_id": payment.order_id,
        "gateway_ref": payment.gateway_ref,
        "failure_code": payment.failure_code,
        "card_brand": payment.card_brand,
        "card_last4": payment.card_last4,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
    }


def payment_from_row(row: Row) -> Payment:
    """A ``payments`` row as a Payment."""
    currency = row["currency"]
    return Payment(
        id=row["id"],
        purpose=PaymentPurpose(row["purpose"]),
        method=PaymentMethod(row["method"]),
        amount=Money(int(row["amount_cents"]), currency),
        status=PaymentStatus(row["status"]),
        idempotency_key=row["idempotency_key"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        reservation_id=row["reservation_id"],
        order_id=row["order_id"],
        gateway_ref=row["gateway_ref"],
        failure_code=row["failure_code"],
        card_brand=row["card_brand"],
        card_last4=row["card_last4"],
        refunded=Money(int(row["refunded_cents"]), currency),
    )


def refund_to_row(refund: Refund) -> JsonDict:
    """Column values of a ``refunds`` row."""
    return {
        "id": refund.id,
        "payment_id": refund.payment_id,
        "amount_cents": refund.amount.cents,
        "currency": refund.amount.currency,
        "status": refund.status.value,
        "idempotency_key": refund.idempotency_key,
        "reason": refund.reason,
        "gateway_ref": refund.gateway_ref,
        "failure_code": refund.failure_code,
        "created_at": refund.created_at,
        "updated_at": refund.updated_at,
    }


def refund_from_row(row: Row) -> Refund:
    """A ``refunds`` row as a Refund."""
    return Refund(
        id=row["id"],
        payment_id=row["payment_id"],
        amount=Money(int(row["amount_cents"]), row["currency"]),
        status=RefundStatus(row["status"]),
        idempotency_key=row["idempotency_key"],
        reason=row["reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        gateway_ref=row["gateway_ref"],
        failure_code=row["failure_code"],
    )


def dispute_to_row(dispute: Dispute) -> JsonDict:
    """Column values of a ``disputes`` row."""
    return {
        "id": dispute.id,
        "payment_id": dispute.payment_id,
        "gateway_ref": dispute.gateway_ref,
        "amount_cents": dispute.amount.cents,
        "currency": dispute.amount.currency,
        "reason": dispute.reason,
        "status": dispute.status.value,
        "opened_at": dispute.opened_at,
        "closed_at": dispute.closed_at,
    }


def dispute_from_row(row: Row) -> Dispute:
    """A ``disputes`` row as a Dispute."""
    return Dispute(
        id=row["id"],
        payment_id=row["payment_id"],
        gateway_ref=row["gateway_ref"],
        amount=Money(int(row["amount_cents"]), row["currency"]),
        reason=row["reason"],
        status=DisputeStatus(row["status"]),
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
    )


def customer_to_row(customer: Customer) -> JsonDict:
    """Column values of a ``customers`` row."""
    return {"id": customer.id, "contact": contact_to_json(customer.contact)}


def customer_from_row(row: Row) -> Customer:
    """A ``customers`` row as a Customer."""
    return Customer(id=row["id"], contact=contact_from_json(row["contact"]))


def advisor_to_row(advisor: Advisor) -> JsonDict:
    """Column values of an ``advisors`` row."""
    return {
        "id": advisor.id,
        "name": advisor.name,
        "email": advisor.email,
        "phone": advisor.phone,
        "active": advisor.active,
    }


def advisor_from_row(row: Row) -> Advisor:
    """An ``advisors`` row as an Advisor."""
    return Advisor(id=row["id"], name=row["name"], email=row["email"], phone=row["phone"], active=bool(row["active"]))


def trade_in_offer_to_row(offer: TradeInOffer) -> JsonDict:
    """Column values of a ``trade_in_offers`` row."""
    return {
        "id": offer.id,
        "customer_id": offer.customer_id,
        "credit_cents": offer.credit.cents,
        "currency": offer.credit.currency,
        "description": offer.description,
        "expires_at": offer.expires_at,
    }


def trade_in_offer_from_row(row: Row) -> TradeInOffer:
    """A ``trade_in_offers`` row as a TradeInOffer."""
    return TradeInOffer(
        id=row["id"],
        customer_id=row["customer_id"],
        credit=Money(int(row["credit_cents"]), row["currency"]),
        description=row["description"],
        expires_at=row["expires_at"],
    )


def financing_to_row(application: FinancingApplication) -> JsonDict:
    """Column values of a ``financing_applications`` row."""
    return {
        "id": application.id,
        "customer_id": application.customer_id,
        "status": application.status.value,
        "apr_percent": _decimal_text(application.apr_percent),
        "term_months": application.term_months,
        "lender": application.lender,
        "max_amount_cents": None if application.max_amount is None else application.max_amount.cents,
        "currency": _currency(application.max_amount),
    }


def financing_from_row(row: Row) -> FinancingApplication:
    """A ``financing_applications`` row as a FinancingApplication."""
    max_cents = row["max_amount_cents"]
    return FinancingApplication(
        id=row["id"],
        customer_id=row["customer_id"],
        status=FinancingStatus(row["status"]),
        apr_percent=_decimal(row, "apr_percent"),
        term_months=row["term_months"],
        lender=row["lender"],
        max_amount=None if max_cents is None else Money(int(max_cents), row["currency"]),
    )


def event_to_row(event: StoredEvent) -> JsonDict:
    """Column values of an ``outbox`` row (``seq`` is assigned by the database)."""
    return {
        "id": event.id,
        "aggregate_id": event.aggregate_id,
        "name": event.name,
        "payload": event.payload,
        "occurred_at": event.occurred_at,
        "published_at": event.published_at,
    }


def event_from_row(row: Row) -> StoredEvent:
    """An ``outbox`` row as a StoredEvent."""
    return StoredEvent(
        id=row["id"],
        aggregate_id=row["aggregate_id"],
        name=row["name"],
        payload=dict(_obj(row["payload"], "outbox.payload")),
        occurred_at=row["occurred_at"],
        published_at=row["published_at"],
    )


def idempotency_from_row(row: Row) -> IdempotencyRecord:
    """An ``idempotency_keys`` row as an IdempotencyRecord."""
    return IdempotencyRecord(
        scope=row["scope"],
        key=row["key"],
        request_hash=row["request_hash"],
        created_at=row["created_at"],
        status_code=row["status_code"],
        body=bytes(row["body"]),
        content_type=row["content_type"],
    )
