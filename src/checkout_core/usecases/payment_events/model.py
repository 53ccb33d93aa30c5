"""The gateway events we understand, as transport-free values, and what handling one did."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, timedelta

import attrs

from checkout_core.money import Money

PAYMENT_INTENT_SUCCEEDED = "payment_intent.succeeded"
PAYMENT_INTENT_FAILED = "payment_intent.payment_failed"
PAYMENT_INTENT_CANCELED = "payment_intent.canceled"
CHARGE_REFUNDED = "charge.refunded"
CHARGE_DISPUTE_CREATED = "charge.dispute.created"
CHARGE_DISPUTE_CLOSED = "charge.dispute.closed"
#: Per-refund events (the Refund object itself, with our idempotency key in its metadata).
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"})

HANDLED_EVENT_TYPES = frozenset(
    {
        PAYMENT_INTENT_SUCCEEDED,
        PAYMENT_INTENT_FAILED,
        PAYMENT_INTENT_CANCELED,
        CHARGE_REFUNDED,
        CHARGE_DISPUTE_CREATED,
        CHARGE_DISPUTE_CLOSED,
        *REFUND_EVENTS,
    }
)

#: How long a claimed event id stays claimed without being completed before another delivery
#: may take it over (the process that claimed it is presumed dead).
DEFAULT_CLAIM_LEASE = timedelta(minutes=5)


def _copy_mapping(value: Mapping[str, str]) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()}


@attrs.frozen(kw_only=True)
class GatewayRefund:
    """One refund as an event reports it."""

    ref: str
    amount: Money
    #: The gateway's status word: ``succeeded``, ``pending``, ``requires_action``, ``failed``, ``canceled``.
    status: str
    #: Our idempotency key, which our adapters put in the refund's metadata.
    idempotency_key: str | None = None
    failure_code: str | None = None


@attrs.frozen(kw_only=True)
class GatewayEvent:
    """A verified, parsed gateway event: transport-free, so any gateway adapter can produce one."""

    #: The gateway's event id (``evt_…``): the unit of "handled once".
    id: str
    #: The gateway's event type, e.g. ``payment_intent.succeeded``.
    type: str
    #: The id of the object the event is about (PaymentIntent, Charge, Refund or Dispute id).
    object_ref: str
    #: PaymentIntent events: its amount. ``charge.refunded``: the charge's *cumulative* amount
    #: refunded (a state, so redelivery and reordering are harmless). Refund and dispute events:
    #: the refund's or the dispute's amount. None when the gateway did not say (or not in CAD).
    amount: Money | None
    #: The object's status in the gateway's own words.
    status: str | None
    #: When the gateway created the event.
    created: datetime
    #: The object's metadata (ours carry ``ledger_id`` and ``idempotency_key``).
    metadata: Mapping[str, str] = attrs.field(factory=dict, converter=_copy_mapping, hash=False)
    #: The PaymentIntent the object belongs to: what our ledger keeps as ``gateway_ref``.
    payment_ref: str | None = None
    #: Decline or failure code, when the object failed.
    failure_code: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    #: ``charge.refunded``: the charge's refunds, when the payload lists them.
    refunds: tuple[GatewayRefund, ...] = ()


class EventOutcome(enum.StrEnum):
    """What handling an event did (returned to the endpoint, which logs it and picks a status)."""

    DUPLICATE = "duplicate"  # this event id was handled before
    IGNORED = "ignored"  # a type we do not act on, or a payment the gateway does not own
    UNKNOWN_PAYMENT = "unknown_payment"  # no ledger row for it: left to reconciliation
    DUPLICATE_CHARGE = "duplicate_charge"  # a second successful charge for one ledger row
    DEFERRED = "deferred"  # the API call is still in flight; deliver again later (non-2xx)
    NO_CHANGE = "no_change"  # the ledger already says so
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    LATE_PAYMENT_REFUNDED = "late_payment_refunded"  # money arrived for something that no longer wants it
    REFUND_RECORDED = "refund_recorded"
    REFUND_FAILED = "refund_failed"  # a refund the gateway reported succeeded has failed after all
    REFUND_UNMATCHED = "refund_unmatched"  # the gateway refunded more than our ledger can explain
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_CLOSED = "dispute_closed"

    @property
    def wants_redelivery(self) -> bool:
        """True when the endpoint should answer non-2xx so the gateway delivers the event again."""
        return self is EventOutcome.DEFERRED
