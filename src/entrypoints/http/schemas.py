"""Request and response bodies of the HTTP API (msgspec Structs, camelCase on the wire).

Requests are decoded and type-checked by Litestar with these Structs; the business checks
(postal codes, amounts against stored records …) stay in the core. Answers start as the core's
values, are shaped by ``entrypoints.views`` (the JSON the CLI prints too) and typed here with
:func:`to_body`, so the OpenAPI document is generated from the very types that serialise each
answer, and any drift between the two fails loudly in the tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from litestar.datastructures import UploadFile
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, Reference, Schema
from litestar.params import QueryParameter

from checkout_core.model.audit import AuditAction, AuditEntry
from checkout_core.model.order import (
    DeliveryMethod,
    DeliveryStatus,
    DocumentKind,
    InsuranceStatus,
    OrderStatus,
    PaymentChoice,
)
from checkout_core.model.payments import PaymentMethod, PaymentStatus
from checkout_core.model.reservation import ReservationStatus
from checkout_core.model.vehicle import DisclosureKind, WarrantyKind
from checkout_core.usecases.order_view import OrderDetails
from entrypoints.views import audit_entry_to_dict, order_to_dict

T = TypeVar("T")

#: Route ``opt`` key naming the body encoding a route accepts; other media types get 415.
BODY_OPT = "body"
JSON_BODY = "json"
MULTIPART_BODY = "multipart"
FORM_BODY = "form"

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=100, description="An identifier, e.g. `veh_abc123`.")]
Cents = Annotated[int, msgspec.Meta(ge=0, le=10_000_000_000, description="An amount in cents (CAD).")]
PositiveCents = Annotated[int, msgspec.Meta(ge=1, le=10_000_000_000, description="An amount in cents (CAD).")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]

#: Paging query parameters.
Limit = Annotated[int, QueryParameter(ge=1, le=100, description="Page size.")]
Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000, description="Items to skip.")]


class Camel(msgspec.Struct, kw_only=True, rename="camel"):
    """Base: keyword-only fields, camelCase names on the wire."""


def to_body(data: Any, body_type: type[T]) -> T:
    """Convert a view dict (camelCase keys, ISO strings) into its response Struct."""
    return msgspec.convert(data, body_type, strict=False)


def order_to_body(details: OrderDetails) -> OrderBody:
    """The spec's order body."""
    return to_body(order_to_dict(details), OrderBody)


def audit_trail_to_body(order_id: str, entries: Iterable[AuditEntry]) -> AuditTrail:
    """An order's signing audit trail, oldest first."""
    return to_body({"orderId": order_id, "items": [audit_entry_to_dict(e) for e in entries]}, AuditTrail)


# -- requests ---------------------------------------------------------------------------


class PaymentMethodIn(Camel):
    """A tokenised card: card numbers are never accepted, only gateway tokens."""

    type: Literal["card"]
    token: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=255,
            description="A Stripe token or PaymentMethod id (`tok_visa`, `pm_card_visa` …).",
        ),
    ]


class ReservationCreate(Camel):
    """``POST /api/v1/reservations``."""

    vehicle_id: Id
    payment_method: PaymentMethodIn


class AddressIn(Camel):
    """A Canadian address (province code and postal code are validated)."""

    street: Text
    city: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    province: Annotated[str, msgspec.Meta(min_length=2, max_length=2, description="`ON`, `QC`, `BC` …")]
    postal_code: Annotated[str, msgspec.Meta(min_length=6, max_length=7, description="`M5V 2T6`")]


class ContactInfoIn(Camel):
    """The buyer as they will appear on the agreement."""

    first_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    last_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
    phone: Annotated[str, msgspec.Meta(min_length=10, max_length=30, description="10 digits, e.g. `416-555-1234`")]
    address: AddressIn


class TradeInIn(Camel):
    """A stored trade-in offer; ``creditAmount``, if sent, must equal the offer's."""

    trade_in_id: Id
    credit_amount: Cents | None = None


class PaymentIn(Camel):
    """Cash, or financing through an approved application."""

    method: PaymentChoice
    financing_application_id: Id | None = None
    down_payment: Cents = 0


class DeliveryIn(Camel):
    """Home delivery (address required) or pickup."""

    method: DeliveryMethod
    address: AddressIn | None = None
    preferred_date: date | None = None


class OrderCreate(Camel):
    """``POST /api/v1/orders`` (the spec's request)."""

    reservation_id: Id
    vehicle_id: Id
    contact_info: ContactInfoIn
    payment: PaymentIn
    delivery: DeliveryIn
    trade_in: TradeInIn | None = None


class InsuranceUpload(Camel):
    """``POST /api/v1/orders/{orderId}/insurance`` (multipart/form-data)."""

    file: UploadFile
    policy_number: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    provider: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]


class InsuranceRejection(Camel):
    """Why an advisor rejects a proof of insurance (shown to the buyer)."""

    reason: Reason


class CardPaymentCreate(Camel):
    """Pay (part of) the balance by card: a token, and at most the balance (default: all of it)."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    amount: PositiveCents | None = None


class BankTransferReceipt(Camel):
    """An advisor records a received bank transfer."""

    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=40, description="The order number.")]
    amount: PositiveCents
    bank_reference: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class DeliverySchedule(Camel):
    """An advisor books the delivery or pickup."""

    scheduled_date: date = msgspec.field(name="date")
    time_window: Annotated[str, msgspec.Meta(min_length=1, max_length=40, description="`10:00 AM - 2:00 PM`")]


class ReasonIn(Camel):
    """An optional reason (cancel, return)."""

    reason: Reason | None = None


class SignForm(Camel):
    """The signing page's form (application/x-www-form-urlencoded)."""

    typed_name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    consent: Annotated[str, msgspec.Meta(max_length=10)] = ""
    csrf_token: Annotated[str, msgspec.Meta(max_length=200)] = ""


class DeclineForm(Camel):
    """The signing page's "Decline" form (application/x-www-form-urlencoded)."""

    csrf_token: Annotated[str, msgspec.Meta(max_length=200)] = ""


# -- responses --------------------------------------------------------------------------


class DepositCharge(Camel):
    """The deposit's card charge at the gateway."""

    id: str
    amount: int
    currency: str
    status: PaymentStatus
    refunded: int


class ReservationBody(Camel):
    """A reservation (the spec's POST /api/v1/reservations response, plus its state)."""

    reservation_id: str
    vehicle_id: str
    customer_id: str
    status: ReservationStatus
    deposit_amount: int
    deposit_charge: DepositCharge | None
    expires_at: datetime | None
    order_id: str | None
    created_at: datetime


class ReservationList(Camel):
    """A page of reservations."""

    items: list[ReservationBody]
    limit: int
    offset: int


class DisclosureBody(Camel):
    """A history fact the dealer discloses about the car (OMVIC), one of the checklist's
    categories (``daily_rental``, ``police``, ``accident_damage``, ``branded``, … or ``other``),
    in the dealer's words."""

    kind: DisclosureKind
    detail: str


class DisclosureAnswerBody(Camel):
    """One category of the disclosure checklist printed on every agreement, answered ``yes``
    (with the dealer's ``details``) or ``no`` from the car's declared disclosures."""

    kind: DisclosureKind
    answer: Literal["yes", "no"]
    details: str


class WarrantyBody(Camel):
    """The warranty stated on the agreement: ``none``, ``manufacturer`` (what remains of it) or ``extended``."""

    kind: WarrantyKind
    detail: str


class VehicleSummary(Camel):
    """The car of an order, with the history facts the dealer disclosed, and what the agreement
    says about it: stock number, Safety Standards Certificate (or sold as is), warranty and the
    full disclosure checklist."""

    id: str
    make: str | None
    model: str | None
    year: int | None
    trim: str | None
    vin: str | None
    disclosures: list[DisclosureBody]
    stock_number: str | None = None
    safety_certificate: str | None = None
    sold_as_is: bool | None = None
    warranty: WarrantyBody | None = None
    disclosure_checklist: list[DisclosureAnswerBody] = msgspec.field(default_factory=list)


class AddressBody(Camel):
    """An address."""

    street: str
    city: str
    province: str
    postal_code: str


class ContactInfoBody(Camel):
    """The buyer's contact details."""

    first_name: str
    last_name: str
    email: str
    phone: str
    address: AddressBody | None


class TaxLine(Camel):
    """One tax component (GST, HST, PST, QST, RST)."""

    kind: str
    rate: float
    amount: int


class PricingBody(Camel):
    """The spec's pricing block, plus each tax component."""

    vehicle_price: int
    trade_in_credit: Annotated[int, msgspec.Meta(description="Negative: the credit reduces the price.")]
    admin_fee: int
    documentation_fee: int
    subtotal: int
    tax_rate: float
    tax_amount: int
    licence_fee: Annotated[int, msgspec.Meta(description="Licence and plate fee: not taxable, added after the tax.")]
    total_due: int
    taxes: list[TaxLine]
    province: str


class TradeInBody(Camel):
    """The trade-in credit applied."""

    trade_in_id: str
    credit_amount: int


class PaymentSummary(Camel):
    """How the order is paid and what has been paid."""

    method: PaymentChoice
    deposit_paid: int
    down_payment_paid: int
    financing_amount: int
    monthly_payment: int | None
    apr_percent: float | None
    term_months: int | None
    financing_application_id: str | None
    amount_due_from_buyer: int
    total_paid: int
    balance_due: int
    refunded: int


class NextStep(Camel):
    """A step the buyer has to take."""

    step: str
    status: str
    url: str


class AdvisorBody(Camel):
    """The advisor looking after the order."""

    id: str
    name: str
    email: str
    phone: str


class DocumentBody(Camel):
    """A stored document of an order (download it from ``url``). ``status`` is ``generated``,
    ``signed`` (by the buyer), ``executed`` (countersigned by the dealer too) or — while a
    document worker has yet to render the agreement (``CHECKOUT_AGREEMENTS=worker``) —
    ``generating``, with no ``id``, ``url`` or ``sha256`` yet."""

    id: str | None
    type: DocumentKind
    status: str
    signed_at: datetime | None
    url: str | None
    content_type: str
    sha256: str | None
    created_at: datetime | None


class DocumentList(Camel):
    """An order's documents."""

    items: list[DocumentBody]


class InsuranceBody(Camel):
    """The latest proof of insurance."""

    insurance_id: str
    status: InsuranceStatus
    policy_number: str
    provider: str
    submitted_at: datetime | None
    verified_at: datetime | None
    rejection_reason: str | None


class DeliveryBody(Camel):
    """Delivery or pickup."""

    method: DeliveryMethod
    status: DeliveryStatus
    preferred_date: date | None
    scheduled_date: date | None
    time_window: str | None
    address: AddressBody | None


class TimelineEntry(Camel):
    """What happened to the order (and the appointment ahead)."""

    event: str
    timestamp: datetime | None
    status: str


class OrderBody(Camel):
    """An order (the spec's POST and GET /api/v1/orders bodies)."""

    order_id: str
    order_number: Annotated[str, msgspec.Meta(pattern=r"^CLT-\d{4}-\d{5,}$")]
    status: OrderStatus
    vehicle_id: str
    customer_id: str
    reservation_id: str
    vehicle: VehicleSummary
    contact_info: ContactInfoBody
    pricing: PricingBody
    trade_in: TradeInBody | None
    payment: PaymentSummary
    next_steps: list[NextStep]
    advisor: AdvisorBody | None
    documents: list[DocumentBody]
    insurance: InsuranceBody | None
    delivery: DeliveryBody
    timeline: list[TimelineEntry]
    created_at: datetime
    updated_at: datetime | None
    completed_at: datetime | None


class OrderList(Camel):
    """A page of orders, newest first."""

    items: list[OrderBody]
    limit: int
    offset: int


class SigningLink(Camel):
    """Where the buyer signs, and until when."""

    signature_url: str
    expires_at: datetime


class InsuranceSubmitted(Camel):
    """A proof of insurance awaiting an advisor's verification."""

    insurance_id: str
    status: InsuranceStatus
    submitted_at: datetime


class BankTransferInstructionsBody(Camel):
    """How to pay the balance by bank transfer (quote the reference)."""

    order_id: str
    reference: str
    amount: int
    currency: str
    due_date: date
    beneficiary: str
    institution: str
    institution_number: str
    transit_number: str
    account_number: str
    swift: str


class CardPaymentBody(Camel):
    """A card payment towards the balance."""

    payment_id: str
    order_id: str | None
    status: PaymentStatus
    method: PaymentMethod
    amount: int
    currency: str
    card_brand: str | None
    card_last4: str | None
    created_at: datetime


class AuditEntryBody(Camel):
    """One link of the signing audit trail: who did what to the agreement, when, from where."""

    sequence: int
    action: AuditAction
    occurred_at: datetime
    signer_name: str
    signer_email: str
    ip_address: Annotated[str, msgspec.Meta(description="Empty when the provider does not report it.")]
    user_agent: str
    document_sha256: Annotated[str, msgspec.Meta(description="SHA-256 of the agreement the entry is about.")]
    prev_hash: Annotated[str, msgspec.Meta(description="The previous entry's `entryHash` (64 zeros for the first).")]
    entry_hash: Annotated[str, msgspec.Meta(description="SHA-256 over this entry's fields and `prevHash`.")]


class AuditTrail(Camel):
    """An order's signing audit trail, oldest first (hash-chained)."""

    order_id: str
    items: list[AuditEntryBody]


class LedgerEntryBody(Camel):
    """One of our card payments or refunds, as reconciliation compared it."""

    kind: Literal["charge", "refund"]
    id: str
    payment_id: str
    amount: int
    currency: str
    status: str
    idempotency_key: str
    gateway_ref: str | None
    created_at: datetime


class GatewayRecordBody(Camel):
    """A charge or refund as the payment gateway has it."""

    kind: Literal["charge", "refund"]
    ref: str
    amount: int
    currency: str
    status: str
    idempotency_key: str | None
    ledger_id: str | None
    created_at: datetime


class PairBody(Camel):
    """A ledger row and the gateway record it was paired with."""

    matched_by: Annotated[str, msgspec.Meta(description="`gatewayRef`, `idempotencyKey` or `ledgerId`.")]
    ledger: LedgerEntryBody
    gateway: GatewayRecordBody


class PairBucket(Camel):
    """Pairs of one kind (matched, or mismatched in amount or status)."""

    count: int
    items: list[PairBody]


class GatewayRecordBucket(Camel):
    """Gateway records with no ledger row."""

    count: int
    items: list[GatewayRecordBody]


class LedgerEntryBucket(Camel):
    """Ledger rows the gateway has nothing for."""

    count: int
    items: list[LedgerEntryBody]


class ReconciliationBuckets(Camel):
    """Every record of the period, in exactly one bucket."""

    matched: PairBucket
    missing_in_ledger: GatewayRecordBucket
    missing_at_gateway: LedgerEntryBucket
    amount_mismatch: PairBucket
    status_mismatch: PairBucket


class ReconciliationBody(Camel):
    """Our ledger against the gateway for a period; ``clean`` when everything matched."""

    since: datetime
    until: Annotated[datetime, msgspec.Meta(description="Exclusive: the day after the last day asked for.")]
    gateway: str
    clean: bool
    buckets: ReconciliationBuckets


class WebhookReceived(Camel):
    """A provider event accepted: the provider stops delivering it."""

    received: Literal[True]
    outcome: Annotated[str, msgspec.Meta(description="What handling the event did, e.g. `payment_succeeded`.")]


class Health(Camel):
    """Liveness or readiness."""

    status: Literal["ok"]
    checks: dict[str, str] = msgspec.field(default_factory=dict)


# -- OpenAPI helpers --------------------------------------------------------------------


def documented_operation(
    *, extra_media: Mapping[int, Sequence[str]] | None = None, optional_body: bool = False
) -> type[Operation]:
    """An ``operation_class`` that corrects what Litestar cannot infer.

    ``extra_media``: more media types for some statuses (Litestar documents one per response;
    a download answers PDF, JPEG or PNG, the signing page a client error as HTML or
    problem+json). ``optional_body``: the request body may be left out (``data: X | None``)."""
    extra = dict(extra_media or {})

    @dataclass
    class DocumentedOperation(Operation):
        def __post_init__(self) -> None:
            if optional_body and self.request_body is not None and not isinstance(self.request_body, Reference):
                self.request_body.required = False
            for status, media_types in extra.items():
                response = (self.responses or {}).get(str(status))
                if response is None or isinstance(response, Reference) or response.content is None:
                    continue
                template = next(iter(response.content.values()))
                for media_type in media_types:
                    response.content.setdefault(media_type, _media(template, media_type))

    return DocumentedOperation


def _media(template: OpenAPIMediaType, media_type: str) -> OpenAPIMediaType:
    if media_type.startswith(("application/pdf", "image/")):
        return OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, content_media_type=media_type))
    if media_type.startswith("text/"):
        return OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))
    return OpenAPIMediaType(schema=template.schema)
