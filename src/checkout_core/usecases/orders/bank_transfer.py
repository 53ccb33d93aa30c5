"""Paying the balance by bank transfer: the instructions the buyer needs."""

from __future__ import annotations

from datetime import date, timedelta

import attrs

from checkout_core.errors import IllegalTransition
from checkout_core.model.local_day import local_day
from checkout_core.model.order import OrderStatus
from checkout_core.money import Money
from checkout_core.usecases.context import Actor, Context
from checkout_core.usecases.orders.reading import load_order


@attrs.frozen(kw_only=True)
class BankTransferInstructions:
    """What the buyer needs to send a bank transfer for the balance."""

    order_id: str
    reference: str
    amount: Money
    due_date: date
    beneficiary: str
    institution: str
    institution_number: str
    transit_number: str
    account_number: str
    swift: str


def bank_transfer_instructions(ctx: Context, actor: Actor, order_id: str) -> BankTransferInstructions:
    """Instructions for paying what is still due by bank transfer (reference = order number)."""
    with ctx.uow() as uow:
        order = load_order(uow, actor, order_id)
    if (
        order.status
        not in (
            OrderStatus.PENDING_DOCUMENTS,
            OrderStatus.PENDING_INSURANCE,
            OrderStatus.PENDING_PAYMENT,
        )
        or order.balance_due.cents == 0
    ):
        raise IllegalTransition(order.status.value, "pay_balance")
    bank = ctx.policy.bank
    return BankTransferInstructions(
        order_id=order.id,
        reference=order.number,
        amount=order.balance_due,
        # Business days are the buyer's province's days, not UTC's.
        due_date=local_day(ctx.clock.now(), order.pricing.province) + timedelta(days=bank.due_days),
        beneficiary=bank.beneficiary,
        institution=bank.institution,
        institution_number=bank.institution_number,
        transit_number=bank.transit_number,
        account_number=bank.account_number,
        swift=bank.swift,
    )
