"""Refunds, recorded in our ledger before and after the gateway call: opened with the change that
makes money owed (:mod:`.opening`), sent and their answers recorded (:mod:`.sending`), followed up
while pending (:mod:`.settling`); the order's refunded total kept in step (:mod:`.booking`)."""

from checkout_core.usecases.refunds.opening import open_refund, open_refunds, refund_payment, validate_refund_amount
from checkout_core.usecases.refunds.sending import record_refund_outcome, send_refunds
from checkout_core.usecases.refunds.settling import pending_bank_refunds, settle_bank_refund, settle_pending_refunds

__all__ = [
    "open_refund",
    "open_refunds",
    "pending_bank_refunds",
    "record_refund_outcome",
    "refund_payment",
    "send_refunds",
    "settle_bank_refund",
    "settle_pending_refunds",
    "validate_refund_amount",
]
