"""``checkout payments``: bank transfer instructions and receipts, and refunds."""

from __future__ import annotations

import click

from checkout_core.model.payments import DisputeStatus, Refund
from checkout_core.money import Money
from checkout_core.usecases.order_payments import record_bank_transfer
from checkout_core.usecases.orders import bank_transfer_instructions
from checkout_core.usecases.payment_events import list_disputes
from checkout_core.usecases.refunds import (
    pending_bank_refunds,
    refund_payment,
    settle_bank_refund,
    validate_refund_amount,
)
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.orders import report_order
from entrypoints.cli.output import domain_errors, emit_json, fields, json_option, money, table, when


@click.group()
def payments() -> None:
    """Payments: bank transfers, refunds and reconciliation."""


@payments.command("instructions")
@click.argument("order_id")
@json_option
@pass_state
def instructions(state: CliState, order_id: str, as_json: bool) -> None:
    """What the buyer needs to pay the balance by bank transfer (the reference is the order number)."""
    with domain_errors():
        found = bank_transfer_instructions(state.app().ctx, state.actor, order_id)
    data = {
        "orderId": found.order_id,
        "reference": found.reference,
        "amount": found.amount.cents,
        "currency": found.amount.currency.lower(),
        "dueDate": found.due_date.isoformat(),
        "beneficiary": found.beneficiary,
        "institution": found.institution,
        "institutionNumber": found.institution_number,
        "transitNumber": found.transit_number,
        "accountNumber": found.account_number,
        "swift": found.swift,
    }
    if as_json:
        emit_json(data)
        return
    fields(
        [
            ("Amount", f"{money(found.amount)} {found.amount.currency}"),
            ("Reference", f"{found.reference}  (the buyer must quote it)"),
            ("Due by", found.due_date.isoformat()),
            ("Beneficiary", found.beneficiary),
            ("Bank", found.institution),
            ("Institution / transit", f"{found.institution_number} / {found.transit_number}"),
            ("Account", found.account_number),
            ("SWIFT", found.swift),
        ]
    )


@payments.command("record-transfer")
@click.option("--reference", required=True, metavar="CLT-…", help="The reference the buyer quoted (order number).")
@click.option("--amount", type=int, required=True, metavar="CENTS", help="Amount received, in cents.")
@click.option("--bank-reference", required=True, metavar="REF", help="The bank's transaction reference.")
@json_option
@pass_state
def record_transfer(state: CliState, reference: str, amount: int, bank_reference: str, as_json: bool) -> None:
    """Record a received bank transfer against its order. Recording the same bank reference again
    changes nothing, so a retried command never counts a transfer twice."""
    if amount <= 0:
        raise click.BadParameter(f"must be a positive number of cents (got {amount})", param_hint="--amount")
    with domain_errors():
        order = record_bank_transfer(
            state.app().ctx, state.actor, reference=reference, amount=Money(amount), bank_reference=bank_reference
        )
    report_order(
        state, order, as_json, f"transfer {bank_reference.strip()} recorded, balance {money(order.balance_due)}"
    )


@payments.command("refund")
@click.argument("payment_id")
@click.option("--amount", type=int, default=None, metavar="CENTS", help="Cents to refund (default: all refundable).")
@click.option("--reason", default="requested_by_customer", show_default=True, help="Why (sent to the gateway).")
@click.option(
    "--idempotency-key",
    "key",
    default=None,
    help="Makes a retry safe: the same key returns the first refund. Default: derived from --amount and "
    "--reason, so re-running the same command never refunds twice.",
)
@json_option
@pass_state
def refund(state: CliState, payment_id: str, amount: int | None, reason: str, key: str | None, as_json: bool) -> None:
    """Refund a payment, fully or in part (never more than is still refundable)."""
    reason = reason.strip()
    if not reason or len(reason) > 200:
        raise click.BadParameter("must be 1 to 200 characters", param_hint="--reason")
    if key is not None and not 1 <= len(key.strip()) <= 100:
        raise click.BadParameter("must be 1 to 100 characters", param_hint="--idempotency-key")
    with domain_errors():
        wanted = validate_refund_amount(amount)
        suffix = f"cli:{key.strip()}" if key else f"cli:{amount if amount is not None else 'all'}:{reason}"
        done = refund_payment(state.app().ctx, payment_id=payment_id, amount=wanted, reason=reason, key_suffix=suffix)
    data = _refund_data(done)
    if as_json:
        emit_json(data)
        return
    click.echo(f"refund {done.id} of {money(done.amount)} on payment {done.payment_id}: {done.status.value}")
    if done.status.value == "pending":
        click.echo(
            "pending: a bank transfer is returned by treasury, a card refund is followed by `payments recover`",
            err=True,
        )


def _refund_data(refund: Refund) -> dict[str, object]:
    return {
        "refundId": refund.id,
        "paymentId": refund.payment_id,
        "amount": refund.amount.cents,
        "currency": refund.amount.currency.lower(),
        "status": refund.status.value,
        "reason": refund.reason,
        "gatewayRef": refund.gateway_ref,
        "failureCode": refund.failure_code,
        "createdAt": when(refund.created_at),
    }


@payments.command("bank-refunds")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@json_option
@pass_state
def bank_refunds(state: CliState, limit: int, as_json: bool) -> None:
    """Refunds of bank transfers waiting for treasury to wire them, oldest first."""
    with domain_errors():
        pending = pending_bank_refunds(state.app().ctx, limit)
    if as_json:
        emit_json([{**_refund_data(r), "orderId": p.order_id, "receivedAs": p.gateway_ref} for r, p in pending])
        return
    if not pending:
        click.echo("no bank-transfer refund is waiting")
        return
    rows = [[r.id, p.order_id or "-", money(r.amount), r.reason, when(r.created_at)] for r, p in pending]
    table(rows, ["refund", "order", "amount", "reason", "opened"])


@payments.command("settle-refund")
@click.argument("refund_id")
@click.option("--sent", "outcome", flag_value="sent", help="Treasury wired the money back.")
@click.option("--returned", "outcome", flag_value="returned", help="The wire bounced: the amount is refundable again.")
@click.option("--bank-reference", required=True, metavar="REF", help="The wire's (or the bounce's) bank reference.")
@json_option
@pass_state
def settle_refund(state: CliState, refund_id: str, outcome: str | None, bank_reference: str, as_json: bool) -> None:
    """Record what happened to a pending bank-transfer refund (card refunds settle themselves)."""
    if outcome is None:
        raise click.UsageError("say what happened: --sent or --returned")
    with domain_errors():
        done = settle_bank_refund(state.app().ctx, refund_id, sent=outcome == "sent", bank_reference=bank_reference)
    if as_json:
        emit_json(_refund_data(done))
        return
    click.echo(f"refund {done.id} of {money(done.amount)} on payment {done.payment_id}: {done.status.value}")


@payments.command("disputes")
@click.option("--status", type=click.Choice([s.value for s in DisputeStatus]), default=None, help="Only this status.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@json_option
@pass_state
def disputes(state: CliState, status: str | None, limit: int, as_json: bool) -> None:
    """Chargebacks against our payments, oldest first (open ones need evidence sent to the gateway)."""
    with domain_errors():
        found = list_disputes(state.app().ctx, status=DisputeStatus(status) if status else None, limit=limit)
    data = [
        {
            "disputeId": d.id,
            "paymentId": d.payment_id,
            "gatewayRef": d.gateway_ref,
            "amount": d.amount.cents,
            "currency": d.amount.currency.lower(),
            "reason": d.reason,
            "status": d.status.value,
            "openedAt": when(d.opened_at),
            "closedAt": when(d.closed_at) if d.closed_at else None,
        }
        for d in found
    ]
    if as_json:
        emit_json(data)
        return
    if not found:
        click.echo("no dispute")
        return
    rows = [[d.id, d.payment_id, money(d.amount), d.reason, d.status.value, when(d.opened_at)] for d in found]
    table(rows, ["dispute", "payment", "amount", "reason", "status", "opened"])
