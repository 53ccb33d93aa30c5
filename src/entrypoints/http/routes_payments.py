"""``/api/v1/orders/{orderId}/payments`` and ``/api/v1/payments``: bank transfer instructions,
card payments, received bank transfers and the reconciliation with the gateway."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from checkout_core.model.payments import Payment
from checkout_core.money import Money
from checkout_core.usecases.context import Actor
from checkout_core.usecases.order_payments import operation_key, pay_by_card, record_bank_transfer
from checkout_core.usecases.orders import bank_transfer_instructions
from checkout_core.usecases.reconciliation import period_of_days, reconcile_payments
from entrypoints.bootstrap import App
from entrypoints.http.idempotency import IDEMPOTENCY_OPT, REQUIRED, RequiredIdempotencyKey
from entrypoints.http.order_routes import ORDER, PAYMENTS, order_body
from entrypoints.http.problems import problem_responses
from entrypoints.http.schemas import (
    BODY_OPT,
    JSON_BODY,
    BankTransferInstructionsBody,
    BankTransferReceipt,
    CardPaymentBody,
    CardPaymentCreate,
    OrderBody,
    ReconciliationBody,
    to_body,
)
from entrypoints.views import reconciliation_to_dict


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
    report = reconcile_payments(checkout.ctx, actor, since=start, until=end)
    return to_body(reconciliation_to_dict(report), ReconciliationBody)


ROUTES = [bank_transfer, pay_card, record_transfer, reconciliation]
