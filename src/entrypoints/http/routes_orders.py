"""``/api/v1/orders`` and ``/api/v1/payments``: checkout, documents, insurance, payments,
delivery and the end of an order.

Each handler parses its input into the core's values, calls one use case with the caller's
:class:`Actor`, and returns the core's view of the result. Who may do what (a customer reaches
only their own orders; advisor-only steps) is decided by the use cases, not here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, MultipartBody, QueryParameter

from checkout_core.errors import ValidationFailed
from checkout_core.model.order import Delivery, DeliveryMethod, OrderStatus
from checkout_core.model.parties import Address, ContactInfo, validate_email, validate_phone
from checkout_core.model.payments import Payment
from checkout_core.money import Money
from checkout_core.usecases.context import Actor
from checkout_core.usecases.order_payments import operation_key, pay_by_card, record_bank_transfer
from checkout_core.usecases.order_view import audit_entry_to_dict, order_details, order_to_dict, placed_order_details
from checkout_core.usecases.orders import (
    PlaceOrder,
    bank_transfer_instructions,
    cancel_order,
    complete_order,
    deliver_order,
    dispatch_order,
    document_bytes,
    list_orders,
    place_order_and_report,
    reject_insurance,
    return_order,
    schedule_delivery,
    start_signing,
    submit_insurance,
    verify_insurance,
)
from checkout_core.usecases.reconciliation import period_of_days, reconcile_payments, report_to_dict
from checkout_core.usecases.signing_audit import audit_entries
from entrypoints.bootstrap import App
from entrypoints.http.idempotency import (
    IDEMPOTENCY_OPT,
    REQUIRED,
    OptionalIdempotencyKey,
    RequiredIdempotencyKey,
)
from entrypoints.http.problems import problem_responses
from entrypoints.http.schemas import (
    BODY_OPT,
    JSON_BODY,
    MULTIPART_BODY,
    AddressIn,
    AuditTrail,
    BankTransferInstructionsBody,
    BankTransferReceipt,
    CardPaymentBody,
    CardPaymentCreate,
    DeliverySchedule,
    DocumentList,
    InsuranceRejection,
    InsuranceSubmitted,
    InsuranceUpload,
    Limit,
    Offset,
    OrderBody,
    OrderCreate,
    OrderList,
    ReasonIn,
    ReconciliationBody,
    SigningLink,
    documented_operation,
    to_body,
)

ORDERS = ["orders"]
DOCUMENTS = ["documents"]
INSURANCE = ["insurance"]
PAYMENTS = ["payments"]
FULFILMENT = ["delivery"]
ORDER = "/orders/{order_id:str}"

_EXTENSIONS = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}


def order_body(checkout: NamedDependency[App], actor: NamedDependency[Actor], order_id: FromPath[str]) -> OrderBody:
    """The spec's order body, read fresh (with the car, the advisor and the timeline)."""
    return to_body(order_to_dict(order_details(checkout.ctx, actor, order_id)), OrderBody)


# -- parsing the checkout form ------------------------------------------------------------


@contextmanager
def _within(prefix: str) -> Iterator[None]:
    """Report a core validation error at its place in the request body (``contactInfo.email``)."""
    try:
        yield
    except ValidationFailed as error:
        field = error.details.get("field")
        details = {**error.details, "field": f"{prefix}.{field}" if field else prefix}
        raise ValidationFailed(error.message, **details) from None


def _address(data: AddressIn, prefix: str) -> Address:
    with _within(prefix):
        return Address.parse(street=data.street, city=data.city, province=data.province, postal_code=data.postal_code)


def _required(value: str, field: str) -> str:
    if not value.strip():
        raise ValidationFailed(f"{field} is required", field=field)
    return value.strip()


def place_order_command(data: OrderCreate) -> PlaceOrder:
    """The spec's ``POST /api/v1/orders`` body as the core's command (formats validated here by
    the core's own parsers; amounts are checked against stored records by the use case)."""
    contact = data.contact_info
    with _within("contactInfo"):
        email = validate_email(contact.email)
        phone = validate_phone(contact.phone)
    info = ContactInfo(
        first_name=_required(contact.first_name, "contactInfo.firstName"),
        last_name=_required(contact.last_name, "contactInfo.lastName"),
        email=email,
        phone=phone,
        address=_address(contact.address, "contactInfo.address"),
    )
    delivery = data.delivery
    if delivery.method is DeliveryMethod.DELIVERY and delivery.address is None:
        raise ValidationFailed("home delivery needs an address", field="delivery.address")
    return PlaceOrder(
        reservation_id=data.reservation_id,
        vehicle_id=data.vehicle_id,
        contact=info,
        trade_in_id=data.trade_in.trade_in_id if data.trade_in else None,
        claimed_trade_in_credit=data.trade_in.credit_amount if data.trade_in else None,
        payment_method=data.payment.method,
        financing_application_id=data.payment.financing_application_id,
        down_payment=Money(data.payment.down_payment),
        delivery=Delivery(
            method=delivery.method,
            address=_address(delivery.address, "delivery.address") if delivery.address else None,
            preferred_date=delivery.preferred_date,
        ),
    )


# -- orders -------------------------------------------------------------------------------


@post(
    "/orders",
    status_code=201,
    sync_to_thread=True,
    tags=ORDERS,
    summary="Place an order",
    opt={IDEMPOTENCY_OPT: REQUIRED, BODY_OPT: JSON_BODY},
    responses=problem_responses(401, 404, 409, 415, 422),
)
def create_order(
    data: JSONBody[OrderCreate],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: RequiredIdempotencyKey,
) -> OrderBody:
    """Turn the caller's confirmed reservation into an order: priced, advisor assigned, purchase
    agreement generated (with ``CHECKOUT_AGREEMENTS=worker``, listed as ``generating`` until a
    document worker renders it moments later); status ``pending_documents``.

    404 if the reservation (or trade-in offer, financing application) is not the caller's;
    409 ``reservation_not_usable``; 422 ``reservation_mismatch`` or ``amount_mismatch``."""
    placed = place_order_and_report(checkout.ctx, actor, place_order_command(data))
    return to_body(order_to_dict(placed_order_details(placed)), OrderBody)


@get("/orders", sync_to_thread=True, tags=ORDERS, summary="List orders", responses=problem_responses(401))
def list_all(
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    status: FromQuery[OrderStatus | None] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> OrderList:
    """The caller's orders (advisors: everyone's), newest first."""
    orders = list_orders(checkout.ctx, actor, status=status, limit=limit, offset=offset)
    return OrderList(items=[order_body(checkout, actor, o.id) for o in orders], limit=limit, offset=offset)


@get(ORDER, sync_to_thread=True, tags=ORDERS, summary="Get an order", responses=problem_responses(401, 404))
def get_one(order_id: FromPath[str], checkout: NamedDependency[App], actor: NamedDependency[Actor]) -> OrderBody:
    """The order with its payment, documents, insurance, delivery and timeline."""
    return order_body(checkout, actor, order_id)


@post(
    ORDER + "/cancel",
    status_code=200,
    sync_to_thread=True,
    tags=ORDERS,
    summary="Cancel an order",
    opt={BODY_OPT: JSON_BODY},
    operation_class=documented_operation(optional_body=True),
    responses=problem_responses(401, 404, 409, 415, 422),
)
def cancel(
    order_id: FromPath[str],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
    data: JSONBody[ReasonIn | None] = None,
) -> OrderBody:
    """Cancel before the car is dispatched (buyer or advisor): everything paid is refunded."""
    default = "cancelled_by_advisor" if actor.is_staff else "cancelled_by_customer"
    cancel_order(checkout.ctx, actor, order_id, reason=(data.reason if data else None) or default)
    return order_body(checkout, actor, order_id)


# -- documents and signing ----------------------------------------------------------------


@post(
    ORDER + "/documents/sign",
    status_code=200,
    sync_to_thread=True,
    tags=DOCUMENTS,
    summary="Start signing the purchase agreement",
    responses=problem_responses(401, 404, 409, 422, 502, 503),
)
def sign(
    order_id: FromPath[str],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
) -> SigningLink:
    """A signing link for the agreement (the same link while it is valid). 503 (retry later) or
    502 if a third-party signing provider is down or refuses."""
    envelope = start_signing(checkout.ctx, actor, order_id)
    return SigningLink(signature_url=envelope.signature_url, expires_at=envelope.expires_at)


@get(
    ORDER + "/documents",
    sync_to_thread=True,
    tags=DOCUMENTS,
    summary="List an order's documents",
    responses=problem_responses(401, 404),
)
def list_documents(
    order_id: FromPath[str], checkout: NamedDependency[App], actor: NamedDependency[Actor]
) -> DocumentList:
    """The agreement, its signed copy and insurance proofs, each with a download ``url``."""
    view = order_to_dict(order_details(checkout.ctx, actor, order_id))
    return to_body({"items": view["documents"]}, DocumentList)


@get(
    ORDER + "/documents/audit",
    sync_to_thread=True,
    tags=DOCUMENTS,
    summary="The signing audit trail",
    responses=problem_responses(401, 404),
)
def audit_trail(order_id: FromPath[str], checkout: NamedDependency[App], actor: NamedDependency[Actor]) -> AuditTrail:
    """Every signing event of the order, oldest first — created, sent, viewed, consented, signed,
    declined — with time, signer, e-mail, IP address, user agent and the agreement's SHA-256,
    each entry hash-chained to the previous one. For the order's owner and advisors."""
    entries = audit_entries(checkout.ctx, actor, order_id)
    return to_body({"orderId": order_id, "items": [audit_entry_to_dict(e) for e in entries]}, AuditTrail)


@get(
    ORDER + "/documents/{document_id:str}",
    sync_to_thread=True,
    tags=DOCUMENTS,
    summary="Download a document",
    media_type="application/pdf",
    operation_class=documented_operation(extra_media={200: ("image/jpeg", "image/png")}),
    responses=problem_responses(401, 404),
)
def download_document(
    order_id: FromPath[str], document_id: FromPath[str], checkout: NamedDependency[App], actor: NamedDependency[Actor]
) -> Response[bytes]:
    """The stored bytes (PDF, JPEG or PNG), for the order's owner and advisors only."""
    record, content = document_bytes(checkout.ctx, actor, order_id, document_id)
    return Response(
        content=content,
        media_type=record.content_type,
        headers={
            # Always a download, never rendered in our origin; the type is the one we sniffed.
            "Content-Disposition": f'attachment; filename="{record.id}{_EXTENSIONS.get(record.content_type, "")}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


# -- insurance ----------------------------------------------------------------------------


@post(
    ORDER + "/insurance",
    status_code=201,
    sync_to_thread=True,
    tags=INSURANCE,
    summary="Upload proof of insurance",
    opt={BODY_OPT: MULTIPART_BODY},
    responses=problem_responses(401, 404, 409, 415, 422),
)
def upload_insurance(
    order_id: FromPath[str],
    data: MultipartBody[InsuranceUpload],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
) -> InsuranceSubmitted:
    """A PDF, JPEG or PNG (checked by content, not name) of at most 10 MB, with the policy
    number and provider. 415 for any other file type, 413 if too large."""
    try:
        content = data.file.file.read()
    finally:
        data.file.file.close()
    insurance = submit_insurance(
        checkout.ctx, actor, order_id, content=content, policy_number=data.policy_number, provider=data.provider
    )
    return InsuranceSubmitted(insurance_id=insurance.id, status=insurance.status, submitted_at=insurance.submitted_at)


@post(
    ORDER + "/insurance/verify",
    status_code=200,
    sync_to_thread=True,
    tags=INSURANCE,
    summary="Verify the proof of insurance (advisor)",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def verify(
    order_id: FromPath[str],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
) -> OrderBody:
    """Advisor only: accept the proof; the order moves on."""
    verify_insurance(checkout.ctx, actor, order_id)
    return order_body(checkout, actor, order_id)


@post(
    ORDER + "/insurance/reject",
    status_code=200,
    sync_to_thread=True,
    tags=INSURANCE,
    summary="Reject the proof of insurance (advisor)",
    opt={BODY_OPT: JSON_BODY},
    responses=problem_responses(401, 403, 404, 409, 415, 422),
)
def reject(
    order_id: FromPath[str],
    data: JSONBody[InsuranceRejection],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
) -> OrderBody:
    """Advisor only: reject the proof with a reason; the buyer is asked for a new upload."""
    reject_insurance(checkout.ctx, actor, order_id, data.reason)
    return order_body(checkout, actor, order_id)


# -- payments -----------------------------------------------------------------------------


@get(
    ORDER + "/payments/bank-transfer",
    sync_to_thread=True,
    tags=PAYMENTS,
    summary="Bank transfer instructions",
    responses=problem_responses(401, 404, 409),
)
def bank_transfer(
    order_id: FromPath[str], checkout: NamedDependency[App], actor: NamedDependency[Actor]
) -> BankTransferInstructionsBody:
    """How to pay what is still due by bank transfer (409 if nothing is due)."""
    i = bank_transfer_instructions(checkout.ctx, actor, order_id)
    return BankTransferInstructionsBody(
        order_id=i.order_id,
        reference=i.reference,
        amount=i.amount.cents,
        currency=i.amount.currency.lower(),
        due_date=i.due_date,
        beneficiary=i.beneficiary,
        institution=i.institution,
        institution_number=i.institution_number,
        transit_number=i.transit_number,
        account_number=i.account_number,
        swift=i.swift,
    )


def _payment_body(payment: Payment) -> CardPaymentBody:
    return CardPaymentBody(
        payment_id=payment.id,
        order_id=payment.order_id,
        status=payment.status,
        method=payment.method,
        amount=payment.amount.cents,
        currency=payment.amount.currency.lower(),
        card_brand=payment.card_brand,
        card_last4=payment.card_last4,
        created_at=payment.created_at,
    )


@post(
    ORDER + "/payments/card",
    status_code=201,
    sync_to_thread=True,
    tags=PAYMENTS,
    summary="Pay by card",
    opt={IDEMPOTENCY_OPT: REQUIRED, BODY_OPT: JSON_BODY},
    responses=problem_responses(401, 402, 404, 409, 415, 422, 503),
)
def pay_card(
    order_id: FromPath[str],
    data: JSONBody[CardPaymentCreate],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: RequiredIdempotencyKey,
) -> CardPaymentBody:
    """Charge (part of) the balance to a card token: at most the balance and the card limit.
    402 ``payment_declined``; 503 if the gateway is down."""
    amount = Money(data.amount) if data.amount is not None else None
    # The operation is the request: a retry with the same key resumes the first attempt's payment
    # (same gateway key), so a crash or a 5xx never leads to a second charge.
    operation = operation_key(actor.id, idempotency_key)
    return _payment_body(
        pay_by_card(checkout.ctx, actor, order_id, token=data.token, amount=amount, operation=operation)
    )


@post(
    "/payments/bank-transfers",
    status_code=200,
    sync_to_thread=True,
    tags=PAYMENTS,
    summary="Record a received bank transfer (advisor)",
    opt={IDEMPOTENCY_OPT: REQUIRED, BODY_OPT: JSON_BODY},
    responses=problem_responses(401, 403, 404, 409, 415, 422),
)
def record_transfer(
    data: JSONBody[BankTransferReceipt],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: RequiredIdempotencyKey,
) -> OrderBody:
    """Advisor only: match a received transfer to its order by reference (the order number).
    Recording the same bank reference twice changes nothing. Money is never refused: a transfer
    above the balance, or one that arrives after the order was cancelled or returned, is recorded
    and its excess opened as a pending bank refund for treasury."""
    order = record_bank_transfer(
        checkout.ctx, actor, reference=data.reference, amount=Money(data.amount), bank_reference=data.bank_reference
    )
    return order_body(checkout, actor, order.id)


@get(
    "/payments/reconciliation",
    sync_to_thread=True,
    tags=PAYMENTS,
    summary="Reconcile the ledger with the gateway (advisor)",
    responses=problem_responses(401, 403, 503),
)
def reconciliation(
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    since: Annotated[date, QueryParameter(description="First day of the period (UTC), `YYYY-MM-DD`.")],
    until: Annotated[date, QueryParameter(description="Last day of the period (UTC, included), `YYYY-MM-DD`.")],
) -> ReconciliationBody:
    """Advisor only: our card payments and refunds of the days ``since`` to ``until`` (both
    included) against the gateway's charges and refunds, sorted into ``matched``,
    ``missingInLedger``, ``missingAtGateway``, ``amountMismatch`` and ``statusMismatch``;
    ``clean`` when only ``matched`` has items. 400 for a malformed date, a day outside
    1970-01-01 … 9998-12-31 or ``until`` before ``since``; 503 if the gateway cannot be read."""
    start, end = period_of_days(since, until)
    return to_body(report_to_dict(reconcile_payments(checkout.ctx, actor, since=start, until=end)), ReconciliationBody)


# -- delivery and the end of the order ----------------------------------------------------


@post(
    ORDER + "/delivery/schedule",
    status_code=200,
    sync_to_thread=True,
    tags=FULFILMENT,
    summary="Schedule delivery or pickup (advisor)",
    opt={BODY_OPT: JSON_BODY},
    responses=problem_responses(401, 403, 404, 409, 415, 422),
)
def schedule(
    order_id: FromPath[str],
    data: JSONBody[DeliverySchedule],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
) -> OrderBody:
    """Advisor only: set the date and time window."""
    schedule_delivery(checkout.ctx, actor, order_id, on=data.scheduled_date, time_window=data.time_window)
    return order_body(checkout, actor, order_id)


@post(
    ORDER + "/delivery/dispatch",
    status_code=200,
    sync_to_thread=True,
    tags=FULFILMENT,
    summary="Dispatch the vehicle (advisor)",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def dispatch(
    order_id: FromPath[str],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
) -> OrderBody:
    """Advisor only: the car leaves for the buyer (``in_transit``)."""
    dispatch_order(checkout.ctx, actor, order_id)
    return order_body(checkout, actor, order_id)


@post(
    ORDER + "/delivery/deliver",
    status_code=200,
    sync_to_thread=True,
    tags=FULFILMENT,
    summary="Mark delivered or picked up (advisor)",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def deliver(
    order_id: FromPath[str],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
) -> OrderBody:
    """Advisor only: the buyer has the car; the return window starts."""
    deliver_order(checkout.ctx, actor, order_id)
    return order_body(checkout, actor, order_id)


@post(
    ORDER + "/complete",
    status_code=200,
    sync_to_thread=True,
    tags=FULFILMENT,
    summary="Complete the purchase (advisor)",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def complete(
    order_id: FromPath[str],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
) -> OrderBody:
    """Advisor only: finalise a delivered order."""
    complete_order(checkout.ctx, actor, order_id)
    return order_body(checkout, actor, order_id)


@post(
    ORDER + "/return",
    status_code=200,
    sync_to_thread=True,
    tags=FULFILMENT,
    summary="Take the vehicle back (advisor)",
    opt={BODY_OPT: JSON_BODY},
    operation_class=documented_operation(optional_body=True),
    responses=problem_responses(401, 403, 404, 409, 415, 422),
)
def take_back(
    order_id: FromPath[str],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
    data: JSONBody[ReasonIn | None] = None,
) -> OrderBody:
    """Advisor only: a return inside the return window; everything paid is refunded."""
    return_order(checkout.ctx, actor, order_id, reason=(data.reason if data else None) or "returned_by_customer")
    return order_body(checkout, actor, order_id)


ROUTES = [
    create_order,
    list_all,
    get_one,
    cancel,
    sign,
    list_documents,
    audit_trail,
    download_document,
    upload_insurance,
    verify,
    reject,
    bank_transfer,
    pay_card,
    record_transfer,
    reconciliation,
    schedule,
    dispatch,
    deliver,
    complete,
    take_back,
]
