"""Boundary tests on every money limit, to the cent: exactly the limit succeeds, one cent more is
refused with the right error (and changes nothing), one cent less succeeds where that means
something.

Limits covered, through the library (in memory, on SQLite and on PostgreSQL where the rule is a
use case's), the CLI and HTTP:

1. refunds: never more than ``payment.refundable`` (also after a partial refund), never 0 or less;
2. card payments of an order's balance: at most the balance, at most ``Policy.card_payment_limit``,
   never 0 or less;
3. balances: paying exactly the balance leaves 0 due and moves the order on, one cent less
   leaves exactly one cent due;
4. bank transfers: exactly the balance opens no refund. The last section holds the behaviour
   being built (an overpaid or late transfer is recorded and the excess refunded): those tests
   fail until it lands.

There is no HTTP refund route (refunds are advisors' work, through the CLI or the library).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from click.testing import Result
from litestar import Litestar
from litestar.testing import TestClient

from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.errors import RefundNotAllowed, ValidationFailed
from checkout_core.model.order import Order, OrderStatus
from checkout_core.model.payments import Payment, PaymentMethod, PaymentStatus, Refund, RefundStatus
from checkout_core.money import Money
from checkout_core.usecases.context import Context
from checkout_core.usecases.order_payments import pay_by_card, record_bank_transfer
from checkout_core.usecases.orders import bank_transfer_instructions, cancel_order, verify_insurance
from checkout_core.usecases.refunds import pending_bank_refunds, refund_payment
from entrypoints.bootstrap import App
from tests.cli.conftest import JOHN, SARAH, out_json, signed_and_insured, spec_order_placed
from tests.cli.conftest import run as run  # registers the ``run`` fixture (the CLI against memory_app)
from tests.http.conftest import asgi as asgi  # the HTTP fixtures: the app around ``core`` (= memory_app) …
from tests.http.conftest import bearer as bearer
from tests.http.conftest import client as client  # … Litestar's test client …
from tests.http.conftest import core as core
from tests.http.conftest import customer as customer  # … and cus_demo's Authorization header
from tests.http.conftest import new_key
from tests.sql.conftest import ALL_BACKENDS, sql_app, sql_engine
from tests.sql.conftest import pg_database as pg_database  # the SQL engines ``sql_engine`` asks for
from tests.sql.conftest import pg_engine as pg_engine
from tests.sql.conftest import sqlite_engine as sqlite_engine

Client = TestClient[Litestar]

#: The spec's order (financed, $2,500 down): what is due once the insurance is verified.
BALANCE = 250_000
#: A card payment limit below that balance, for the limit's boundary.
SMALL_LIMIT = 100_000
#: A bank transfer received early on an order, to have a bank-transfer payment to refund.
TRANSFER = 123_456
DEPOSIT = 10_000

PAYMENT_KINDS = [pytest.param(PaymentMethod.CARD, id="card"), pytest.param(PaymentMethod.BANK_TRANSFER, id="bank")]


# -- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture(params=ALL_BACKENDS)
def any_app(request: pytest.FixtureRequest, clock: FixedClock) -> Iterator[App]:
    """The whole core with the demo data: in memory, on SQLite, on PostgreSQL."""
    if request.param == "memory":
        memory: App = request.getfixturevalue("memory_app")
        yield memory
        return
    app = sql_app(sql_engine(request, request.param), clock=clock, ids=SequentialIds())
    load_demo(app.ctx.uow)
    yield app
    app.close()


def with_card_limit(ctx: Context, cents: int) -> Context:
    """``ctx`` with another card payment limit (the rest of the policy unchanged)."""
    return attrs.evolve(ctx, policy=attrs.evolve(ctx.policy, card_payment_limit=Money(cents)))


def pending_payment_order(app: App) -> Order:
    """The spec's order, signed, insured and verified: ``pending_payment`` with BALANCE due."""
    order = spec_order_placed(app)
    signed_and_insured(app, order)
    verified = verify_insurance(app.ctx, SARAH, order.id)
    assert verified.status is OrderStatus.PENDING_PAYMENT
    assert verified.balance_due == Money(BALANCE)
    return verified


def stored_order(app: App, order_id: str) -> Order:
    with app.ctx.uow() as uow:
        order = uow.orders.get(order_id)
    assert order is not None
    return order


def order_payments(app: App, order_id: str) -> list[Payment]:
    with app.ctx.uow() as uow:
        return list(uow.ledger.payments_for(order_id=order_id))


def ledger_of(app: App, payment_id: str) -> tuple[Payment, list[Refund]]:
    """A payment as stored, and its refunds."""
    with app.ctx.uow() as uow:
        payment = uow.ledger.get_payment(payment_id)
        refunds = list(uow.ledger.refunds_for(payment_id))
    assert payment is not None
    return payment, refunds


def refundable_payment(app: App, method: PaymentMethod) -> tuple[Order, Payment]:
    """An order (spec, pending_documents) and one of its payments with nothing refunded yet: the
    $100 deposit charged by card, or a bank transfer of TRANSFER cents received early."""
    order = spec_order_placed(app)
    if method is PaymentMethod.BANK_TRANSFER:
        record_bank_transfer(app.ctx, SARAH, reference=order.number, amount=Money(TRANSFER), bank_reference="W-EARLY")
    [payment] = [p for p in order_payments(app, order.id) if p.method is method]
    assert payment.refunded == Money.zero()
    assert payment.refundable == Money(DEPOSIT if method is PaymentMethod.CARD else TRANSFER)
    return order, payment


def refund(app: App, payment_id: str, cents: int, suffix: str) -> Refund:
    return refund_payment(app.ctx, payment_id=payment_id, amount=Money(cents), reason="goodwill", key_suffix=suffix)


def assert_refund_refused(app: App, payment_id: str, cents: int, suffix: str) -> RefundNotAllowed:
    """Refunding ``cents`` is refused and leaves the ledger and the order exactly as they were."""
    before, refunds_before = ledger_of(app, payment_id)
    order_refunded = stored_order(app, before.order_id).refunded if before.order_id else None
    with pytest.raises(RefundNotAllowed) as refused:
        refund(app, payment_id, cents, suffix)
    after, refunds_after = ledger_of(app, payment_id)
    assert (after.refunded, after.refundable) == (before.refunded, before.refundable)
    assert refunds_after == refunds_before
    if before.order_id:
        assert stored_order(app, before.order_id).refunded == order_refunded
    return refused.value


def settled_status(method: PaymentMethod) -> RefundStatus:
    """What the ledger says right after a refund is sent: the sandbox refunds a card at once; a
    bank transfer is wired back by treasury later."""
    return RefundStatus.SUCCEEDED if method is PaymentMethod.CARD else RefundStatus.PENDING


def pay(app: App, order_id: str, cents: int | None, ctx: Context | None = None) -> Payment:
    amount = None if cents is None else Money(cents)
    return pay_by_card(ctx or app.ctx, JOHN, order_id, token="tok_visa", amount=amount)


def assert_card_payment_refused(
    app: App, order_id: str, cents: int | None, match: str, ctx: Context | None = None
) -> None:
    """Paying ``cents`` by card is a ValidationFailed on ``amount``; nothing is charged or counted."""
    before = stored_order(app, order_id)
    payments_before = order_payments(app, order_id)
    with pytest.raises(ValidationFailed, match=match) as refused:
        pay(app, order_id, cents, ctx)
    assert refused.value.details.get("field") == "amount"
    after = stored_order(app, order_id)
    assert (after.paid, after.balance_due, after.status) == (before.paid, before.balance_due, before.status)
    assert order_payments(app, order_id) == payments_before


OVER_BALANCE = r"between \$0\.01 and the balance"
OVER_LIMIT = r"card payments are limited to \$1,000\.00"


# == 1. refunds ===================================================================================


@pytest.mark.parametrize("method", PAYMENT_KINDS)
def test_refund_of_exactly_the_refundable_amount_succeeds(any_app: App, method: PaymentMethod) -> None:
    order, payment = refundable_payment(any_app, method)
    done = refund(any_app, payment.id, payment.refundable.cents, "all")
    assert (done.amount, done.status, done.payment_id) == (payment.refundable, settled_status(method), payment.id)
    stored, refunds = ledger_of(any_app, payment.id)
    assert (stored.refunded, stored.refundable) == (payment.amount, Money.zero())
    assert [r.id for r in refunds] == [done.id]
    assert stored_order(any_app, order.id).refunded == payment.amount


@pytest.mark.parametrize("method", PAYMENT_KINDS)
def test_refund_of_one_cent_more_than_refundable_is_refused(any_app: App, method: PaymentMethod) -> None:
    _, payment = refundable_payment(any_app, method)
    refused = assert_refund_refused(any_app, payment.id, payment.refundable.cents + 1, "over")
    assert refused.code == "refund_not_allowed"
    assert refused.details["refundable"] == payment.refundable.cents
    # nothing was reserved by the refused attempt: all of it can still be refunded
    done = refund(any_app, payment.id, payment.refundable.cents, "all")
    assert done.amount == payment.refundable


@pytest.mark.parametrize("method", PAYMENT_KINDS)
def test_refund_of_one_cent_less_than_refundable_leaves_exactly_one_cent(any_app: App, method: PaymentMethod) -> None:
    _, payment = refundable_payment(any_app, method)
    done = refund(any_app, payment.id, payment.refundable.cents - 1, "almost")
    assert done.amount == Money(payment.refundable.cents - 1)
    stored, _ = ledger_of(any_app, payment.id)
    assert stored.refundable == Money(1)
    assert_refund_refused(any_app, payment.id, 2, "two")
    last = refund(any_app, payment.id, 1, "last")
    assert last.amount == Money(1)
    assert ledger_of(any_app, payment.id)[0].refundable == Money.zero()


@pytest.mark.parametrize("method", PAYMENT_KINDS)
def test_after_a_partial_refund_exactly_the_remainder_is_refundable(any_app: App, method: PaymentMethod) -> None:
    order, payment = refundable_payment(any_app, method)
    refund(any_app, payment.id, 2_500, "part")
    remainder = payment.refundable.cents - 2_500

    refused = assert_refund_refused(any_app, payment.id, remainder + 1, "over")
    assert refused.details["refundable"] == remainder

    rest = refund(any_app, payment.id, remainder, "rest")
    assert (rest.amount, rest.status) == (Money(remainder), settled_status(method))
    stored, refunds = ledger_of(any_app, payment.id)
    assert (stored.refunded, stored.refundable) == (payment.amount, Money.zero())
    assert sorted(r.amount.cents for r in refunds) == sorted([2_500, remainder])
    assert stored_order(any_app, order.id).refunded == payment.amount
    assert_refund_refused(any_app, payment.id, 1, "nothing-left")


@pytest.mark.parametrize("method", PAYMENT_KINDS)
@pytest.mark.parametrize("cents", [0, -1])
def test_refund_of_zero_or_less_is_refused(any_app: App, method: PaymentMethod, cents: int) -> None:
    _, payment = refundable_payment(any_app, method)
    assert_refund_refused(any_app, payment.id, cents, f"nothing-{cents}")


# -- refunds through the CLI (``checkout payments refund``) --------------------------------------


@pytest.mark.parametrize("method", PAYMENT_KINDS)
def test_cli_refund_of_exactly_the_refundable_amount(run: Any, memory_app: App, method: PaymentMethod) -> None:
    _, payment = refundable_payment(memory_app, method)
    done = out_json(run("payments", "refund", payment.id, "--amount", str(payment.refundable.cents), "--json"))
    assert (done["paymentId"], done["amount"], done["status"]) == (
        payment.id,
        payment.refundable.cents,
        settled_status(method).value,
    )
    assert ledger_of(memory_app, payment.id)[0].refundable == Money.zero()


@pytest.mark.parametrize("method", PAYMENT_KINDS)
def test_cli_refund_of_one_cent_more_is_refused(run: Any, memory_app: App, method: PaymentMethod) -> None:
    _, payment = refundable_payment(memory_app, method)
    over = payment.refundable.cents + 1
    refused: Result = run("payments", "refund", payment.id, "--amount", str(over))
    assert refused.exit_code == 4, refused.output
    assert "error [refund_not_allowed]" in refused.stderr
    assert f"{Money(over).format()} exceeds the {payment.refundable.format()} still refundable" in refused.stderr
    assert ledger_of(memory_app, payment.id) == (payment, [])
    less = out_json(run("payments", "refund", payment.id, "--amount", str(payment.refundable.cents - 1), "--json"))
    assert less["amount"] == payment.refundable.cents - 1
    assert ledger_of(memory_app, payment.id)[0].refundable == Money(1)


@pytest.mark.parametrize("method", PAYMENT_KINDS)
def test_cli_refund_of_the_remainder_after_a_partial_refund(run: Any, memory_app: App, method: PaymentMethod) -> None:
    _, payment = refundable_payment(memory_app, method)
    out_json(run("payments", "refund", payment.id, "--amount", "2500", "--json"))
    remainder = payment.refundable.cents - 2_500
    refused = run("payments", "refund", payment.id, "--amount", str(remainder + 1))
    assert refused.exit_code == 4, refused.output
    assert f"exceeds the {Money(remainder).format()} still refundable" in refused.stderr
    rest = out_json(run("payments", "refund", payment.id, "--amount", str(remainder), "--json"))
    assert rest["amount"] == remainder
    stored, refunds = ledger_of(memory_app, payment.id)
    assert stored.refundable == Money.zero() and len(refunds) == 2


@pytest.mark.parametrize("cents", [0, -1])
def test_cli_refund_of_zero_or_less_is_refused(run: Any, memory_app: App, cents: int) -> None:
    _, payment = refundable_payment(memory_app, PaymentMethod.CARD)
    refused = run("payments", "refund", payment.id, "--amount", str(cents))
    assert refused.exit_code == 2, refused.output
    assert "error [validation_error]: a refund amount must be a positive number of cents" in refused.stderr
    assert ledger_of(memory_app, payment.id) == (payment, [])


# == 2. card payments of the balance ==============================================================


def test_card_payment_of_exactly_the_balance_succeeds(any_app: App) -> None:
    order = pending_payment_order(any_app)
    paid = pay(any_app, order.id, BALANCE)
    assert (paid.status, paid.amount, paid.method) == (PaymentStatus.SUCCEEDED, Money(BALANCE), PaymentMethod.CARD)


def test_card_payment_of_one_cent_more_than_the_balance_is_refused(any_app: App) -> None:
    order = pending_payment_order(any_app)
    assert_card_payment_refused(any_app, order.id, BALANCE + 1, OVER_BALANCE)
    # the refused attempt left no trace: the balance itself still goes through
    assert pay(any_app, order.id, BALANCE).status is PaymentStatus.SUCCEEDED


@pytest.mark.parametrize("cents", [0, -1])
def test_card_payment_of_zero_or_less_is_refused(any_app: App, cents: int) -> None:
    order = pending_payment_order(any_app)
    assert_card_payment_refused(any_app, order.id, cents, OVER_BALANCE)


def test_card_payment_of_exactly_the_card_limit_succeeds(any_app: App) -> None:
    order = pending_payment_order(any_app)
    limited = with_card_limit(any_app.ctx, SMALL_LIMIT)
    paid = pay(any_app, order.id, SMALL_LIMIT, limited)
    assert (paid.status, paid.amount) == (PaymentStatus.SUCCEEDED, Money(SMALL_LIMIT))
    assert stored_order(any_app, order.id).balance_due == Money(BALANCE - SMALL_LIMIT)
    less = pay(any_app, order.id, SMALL_LIMIT - 1, limited)
    assert (less.status, less.amount) == (PaymentStatus.SUCCEEDED, Money(SMALL_LIMIT - 1))
    assert stored_order(any_app, order.id).balance_due == Money(BALANCE - 2 * SMALL_LIMIT + 1)


def test_card_payment_of_one_cent_more_than_the_card_limit_is_refused(any_app: App) -> None:
    order = pending_payment_order(any_app)
    limited = with_card_limit(any_app.ctx, SMALL_LIMIT)
    assert_card_payment_refused(any_app, order.id, SMALL_LIMIT + 1, OVER_LIMIT, limited)
    # "the whole balance" is refused too while the balance is above the limit
    assert_card_payment_refused(any_app, order.id, None, OVER_LIMIT, limited)


def test_the_whole_balance_by_default_once_it_is_within_the_card_limit(any_app: App) -> None:
    order = pending_payment_order(any_app)
    limited = with_card_limit(any_app.ctx, BALANCE)  # the balance is exactly the limit
    paid = pay(any_app, order.id, None, limited)
    assert paid.amount == Money(BALANCE)
    assert stored_order(any_app, order.id).balance_due == Money.zero()


# -- card payments over HTTP (``POST /api/v1/orders/{id}/payments/card``) ------------------------


def _pay_over_http(client: Client, headers: dict[str, str], order_id: str, cents: int) -> Any:
    return client.post(
        f"/api/v1/orders/{order_id}/payments/card",
        json={"token": "tok_visa", "amount": cents},
        headers={**headers, "Idempotency-Key": new_key()},
    )


def _payment_view(client: Client, headers: dict[str, str], order_id: str) -> tuple[str, int, int]:
    body = client.get(f"/api/v1/orders/{order_id}", headers=headers).json()
    return body["status"], body["payment"]["totalPaid"], body["payment"]["balanceDue"]


def _assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert (problem["status"], problem["code"]) == (status, code)
    return problem


def test_http_card_payment_of_exactly_the_balance(client: Client, customer: dict[str, str], core: App) -> None:
    order = pending_payment_order(core)
    paid = _pay_over_http(client, customer, order.id, BALANCE)
    assert paid.status_code == 201, paid.text
    assert (paid.json()["amount"], paid.json()["status"]) == (BALANCE, "succeeded")
    assert _payment_view(client, customer, order.id) == ("pending_delivery", DEPOSIT + BALANCE, 0)


def test_http_card_payment_of_one_cent_more_than_the_balance(
    client: Client, customer: dict[str, str], core: App
) -> None:
    order = pending_payment_order(core)
    before = _payment_view(client, customer, order.id)
    assert before == ("pending_payment", DEPOSIT, BALANCE)
    problem = _assert_problem(_pay_over_http(client, customer, order.id, BALANCE + 1), 400, "validation_error")
    assert problem["field"] == "amount"
    assert "$2,500.00" in problem["detail"]
    assert _payment_view(client, customer, order.id) == before
    less = _pay_over_http(client, customer, order.id, BALANCE - 1)
    assert less.status_code == 201, less.text
    assert _payment_view(client, customer, order.id) == ("pending_payment", DEPOSIT + BALANCE - 1, 1)


@pytest.mark.parametrize("cents", [0, -1])
def test_http_card_payment_of_zero_or_less(client: Client, customer: dict[str, str], core: App, cents: int) -> None:
    order = pending_payment_order(core)
    _assert_problem(_pay_over_http(client, customer, order.id, cents), 400, "validation_error")
    assert _payment_view(client, customer, order.id) == ("pending_payment", DEPOSIT, BALANCE)


def test_http_card_payment_limit(client: Client, customer: dict[str, str], core: App) -> None:
    order = pending_payment_order(core)
    core.ctx = with_card_limit(core.ctx, SMALL_LIMIT)  # the HTTP app reads core.ctx per request
    problem = _assert_problem(_pay_over_http(client, customer, order.id, SMALL_LIMIT + 1), 400, "validation_error")
    assert problem["field"] == "amount"
    assert "limited to $1,000.00" in problem["detail"]
    assert _payment_view(client, customer, order.id) == ("pending_payment", DEPOSIT, BALANCE)
    exactly = _pay_over_http(client, customer, order.id, SMALL_LIMIT)
    assert exactly.status_code == 201, exactly.text
    assert _payment_view(client, customer, order.id) == (
        "pending_payment",
        DEPOSIT + SMALL_LIMIT,
        BALANCE - SMALL_LIMIT,
    )


# == 3. balances ==================================================================================


def test_paying_exactly_the_balance_leaves_nothing_due_and_moves_the_order_on(any_app: App) -> None:
    order = pending_payment_order(any_app)
    pay(any_app, order.id, BALANCE)
    paid = stored_order(any_app, order.id)
    assert paid.balance_due == Money.zero()
    assert paid.paid == paid.due_from_buyer == Money(DEPOSIT + BALANCE)
    assert paid.status is OrderStatus.PENDING_DELIVERY


def test_paying_one_cent_less_than_the_balance_leaves_exactly_one_cent_due(any_app: App) -> None:
    order = pending_payment_order(any_app)
    pay(any_app, order.id, BALANCE - 1)
    short = stored_order(any_app, order.id)
    assert short.balance_due == Money(1)
    assert short.status is OrderStatus.PENDING_PAYMENT
    assert bank_transfer_instructions(any_app.ctx, JOHN, order.id).amount == Money(1)
    assert_card_payment_refused(any_app, order.id, 2, OVER_BALANCE)
    pay(any_app, order.id, 1)
    done = stored_order(any_app, order.id)
    assert (done.balance_due, done.status) == (Money.zero(), OrderStatus.PENDING_DELIVERY)


# == 4. bank transfers: what already holds ========================================================


def test_transfer_of_exactly_the_balance_clears_it_and_opens_no_refund(memory_app: App) -> None:
    order = pending_payment_order(memory_app)
    recorded = record_bank_transfer(
        memory_app.ctx, SARAH, reference=order.number, amount=Money(BALANCE), bank_reference="W-EXACT"
    )
    assert (recorded.balance_due, recorded.status) == (Money.zero(), OrderStatus.PENDING_DELIVERY)
    assert stored_order(memory_app, order.id).paid == Money(DEPOSIT + BALANCE)
    assert pending_bank_refunds(memory_app.ctx) == []
    [transfer] = [p for p in order_payments(memory_app, order.id) if p.method is PaymentMethod.BANK_TRANSFER]
    assert ledger_of(memory_app, transfer.id) == (transfer, [])


def test_transfer_of_one_cent_less_than_the_balance_leaves_one_cent_and_opens_no_refund(memory_app: App) -> None:
    order = pending_payment_order(memory_app)
    recorded = record_bank_transfer(
        memory_app.ctx, SARAH, reference=order.number, amount=Money(BALANCE - 1), bank_reference="W-SHORT"
    )
    assert (recorded.balance_due, recorded.status) == (Money(1), OrderStatus.PENDING_PAYMENT)
    assert pending_bank_refunds(memory_app.ctx) == []


@pytest.mark.parametrize("cents", [0, -1])
def test_transfer_of_zero_or_less_is_refused(memory_app: App, cents: int) -> None:
    order = pending_payment_order(memory_app)
    with pytest.raises(ValidationFailed, match="must be positive"):
        record_bank_transfer(memory_app.ctx, SARAH, reference=order.number, amount=Money(cents), bank_reference="W-0")
    assert stored_order(memory_app, order.id).balance_due == Money(BALANCE)


def test_cli_transfer_of_exactly_the_balance_opens_no_refund(run: Any, memory_app: App) -> None:
    order = pending_payment_order(memory_app)
    args = ("payments", "record-transfer", "--reference", order.number, "--bank-reference")
    short = out_json(run(*args, "W-1", "--amount", str(BALANCE - 1), "--json"))
    assert (short["status"], short["payment"]["balanceDue"]) == ("pending_payment", 1)
    exact = run(*args, "W-2", "--amount", "1")
    assert exact.exit_code == 0, exact.output
    assert "balance $0.00" in exact.stdout and "now pending_delivery" in exact.stdout
    assert out_json(run("payments", "bank-refunds", "--json")) == []
    assert run("payments", "bank-refunds").stdout.strip() == "no bank-transfer refund is waiting"


@pytest.mark.parametrize("cents", ["0", "-1"])
def test_cli_transfer_of_zero_or_less_is_refused(run: Any, memory_app: App, cents: str) -> None:
    order = pending_payment_order(memory_app)
    refused = run(
        "payments", "record-transfer", "--reference", order.number, "--amount", cents, "--bank-reference", "W"
    )
    assert refused.exit_code == 2, refused.output
    assert "positive number of cents" in refused.output
    assert stored_order(memory_app, order.id).balance_due == Money(BALANCE)


# == 4'. NEW BEHAVIOUR being built: overpaid and late bank transfers ==============================
# A transfer above the balance is recorded in full and the excess goes back by a pending
# bank-transfer refund (reason "overpayment"); a transfer for an order already cancelled is
# recorded, not refused, and all of it goes back (reason "order_closed"). These tests are written
# to that spec and fail until it lands.


def _only_pending_bank_refund(app: App) -> tuple[Refund, Payment]:
    pending = pending_bank_refunds(app.ctx)
    assert len(pending) == 1, pending
    return pending[0]


def test_new_transfer_of_one_cent_more_than_the_balance_refunds_exactly_one_cent(memory_app: App) -> None:
    order = pending_payment_order(memory_app)
    paid_before = order.paid
    record_bank_transfer(
        memory_app.ctx, SARAH, reference=order.number, amount=Money(BALANCE + 1), bank_reference="W-OVER"
    )
    after = stored_order(memory_app, order.id)
    assert after.paid == paid_before + Money(BALANCE + 1)  # recorded in full
    assert (after.balance_due, after.status) == (Money.zero(), OrderStatus.PENDING_DELIVERY)
    [transfer] = [p for p in order_payments(memory_app, order.id) if p.method is PaymentMethod.BANK_TRANSFER]
    assert (transfer.amount, transfer.status) == (Money(BALANCE + 1), PaymentStatus.SUCCEEDED)

    excess, paid_by = _only_pending_bank_refund(memory_app)
    assert (excess.amount, excess.reason, excess.status) == (Money(1), "overpayment", RefundStatus.PENDING)
    assert (excess.payment_id, paid_by.id, paid_by.order_id) == (transfer.id, transfer.id, order.id)

    # the same bank reference again changes nothing: no second refund
    record_bank_transfer(
        memory_app.ctx, SARAH, reference=order.number, amount=Money(BALANCE + 1), bank_reference="W-OVER"
    )
    assert [r.id for r, _ in pending_bank_refunds(memory_app.ctx)] == [excess.id]


def test_new_transfer_after_the_order_was_cancelled_is_recorded_and_refunded_in_full(memory_app: App) -> None:
    order = pending_payment_order(memory_app)
    cancel_order(memory_app.ctx, JOHN, order.id)
    recorded = record_bank_transfer(
        memory_app.ctx, SARAH, reference=order.number, amount=Money(BALANCE), bank_reference="W-LATE"
    )
    assert recorded.status is OrderStatus.CANCELLED
    [transfer] = [p for p in order_payments(memory_app, order.id) if p.method is PaymentMethod.BANK_TRANSFER]
    assert (transfer.amount, transfer.status) == (Money(BALANCE), PaymentStatus.SUCCEEDED)

    late, paid_by = _only_pending_bank_refund(memory_app)
    assert (late.amount, late.reason, late.status) == (Money(BALANCE), "order_closed", RefundStatus.PENDING)
    assert (late.payment_id, paid_by.order_id) == (transfer.id, order.id)


def test_new_cli_transfer_of_one_cent_more_than_the_balance_lists_a_one_cent_refund(run: Any, memory_app: App) -> None:
    order = pending_payment_order(memory_app)
    over = run(
        "payments", "record-transfer", "--reference", order.number, "--amount", str(BALANCE + 1),
        "--bank-reference", "W-OVER", "--json",
    )  # fmt: skip
    recorded = out_json(over)
    assert (recorded["status"], recorded["payment"]["balanceDue"]) == ("pending_delivery", 0)
    assert recorded["payment"]["totalPaid"] == DEPOSIT + BALANCE + 1
    waiting = out_json(run("payments", "bank-refunds", "--json"))
    assert [(w["orderId"], w["amount"], w["reason"], w["status"], w["receivedAs"]) for w in waiting] == [
        (order.id, 1, "overpayment", "pending", "W-OVER")
    ]


def test_new_cli_transfer_after_the_order_was_cancelled_lists_a_full_refund(run: Any, memory_app: App) -> None:
    order = pending_payment_order(memory_app)
    cancel_order(memory_app.ctx, JOHN, order.id)
    late = run(
        "payments", "record-transfer", "--reference", order.number, "--amount", str(BALANCE),
        "--bank-reference", "W-LATE",
    )  # fmt: skip
    assert late.exit_code == 0, late.output
    waiting = out_json(run("payments", "bank-refunds", "--json"))
    assert [(w["orderId"], w["amount"], w["reason"], w["status"], w["receivedAs"]) for w in waiting] == [
        (order.id, BALANCE, "order_closed", "pending", "W-LATE")
    ]
