"""Placing an order and everything that happens to it afterwards (signing, insurance, payment,
delivery, completion, cancellation, return), one module per flow. Amounts never come from the
client: trade-in credit and financing are read from their stored records, the deposit from our
ledger."""

from checkout_core.usecases.orders.bank_transfer import BankTransferInstructions, bank_transfer_instructions
from checkout_core.usecases.orders.closing import cancel_order, complete_due_orders, complete_order, return_order
from checkout_core.usecases.orders.countersigning import countersign_agreement
from checkout_core.usecases.orders.delivery import advance_order, deliver_order, dispatch_order, schedule_delivery
from checkout_core.usecases.orders.insurance import reject_insurance, submit_insurance, verify_insurance
from checkout_core.usecases.orders.placing import PlacedOrder, PlaceOrder, place_order, place_order_and_report
from checkout_core.usecases.orders.reading import (
    document_bytes,
    document_record,
    list_orders,
    load_order,
    visible_order,
)
from checkout_core.usecases.orders.signing import (
    complete_signing,
    decline_signing,
    decline_signing_link,
    envelope_for_signing,
    record_signing_view,
    signing_link_order,
    start_signing,
)
from checkout_core.usecases.orders.signing_callbacks import EnvelopeSync, apply_signing_callback, sync_open_envelopes

__all__ = [
    "BankTransferInstructions",
    "EnvelopeSync",
    "PlaceOrder",
    "PlacedOrder",
    "advance_order",
    "apply_signing_callback",
    "bank_transfer_instructions",
    "cancel_order",
    "complete_due_orders",
    "complete_order",
    "complete_signing",
    "countersign_agreement",
    "decline_signing",
    "decline_signing_link",
    "deliver_order",
    "dispatch_order",
    "document_bytes",
    "document_record",
    "envelope_for_signing",
    "list_orders",
    "load_order",
    "place_order",
    "place_order_and_report",
    "record_signing_view",
    "reject_insurance",
    "return_order",
    "schedule_delivery",
    "signing_link_order",
    "start_signing",
    "submit_insurance",
    "sync_open_envelopes",
    "verify_insurance",
    "visible_order",
]
