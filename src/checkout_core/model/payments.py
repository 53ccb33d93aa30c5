"""Our own ledger of money movements. Every charge and refund is written here before the
gateway is called (``pending``) and after it answers, so a crash in between leaves a row the
recovery job can settle by asking the gateway with the same idempotency key."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from checkout_core.money import Money


class PaymentPurpose(enum.StrEnum):
    """What a payment pays for."""

    DEPOSIT = "deposit"
    ORDER = "order"
    #: A second successful charge for one of our payments (a retry the gateway did not
    #: deduplicate): it pays for nothing, is never counted on an order, and is refunded in full.
    DUPLICATE = "duplicate"


class PaymentMethod(enum.StrEnum):
    """How the money came in."""

    CARD = "card"
    BANK_TRANSFER = "bank_transfer"


class PaymentStatus(enum.StrEnum):
    """Ledger status; ``pending`` means the gateway's answer is not known yet."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundStatus(enum.StrEnum):
    """Refunds are followed until the gateway says they succeeded or failed."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundReason(enum.StrEnum):
    """Why money goes back, as stored on the refund, sent to the gateway and used in the refund's
    idempotency key (``<payment id>:<reason>``): the values are stored data, never rename one."""

    #: A deposit charge that succeeded after its reservation had been released.
    LATE_PAYMENT = "late_payment"
    RESERVATION_CANCELLED = "reservation_cancelled"
    RESERVATION_EXPIRED = "reservation_expired"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_RETURNED = "order_returned"
    #: A card or bank payment that arrived after its order was closed.
    ORDER_CLOSED = "order_closed"
    #: What a payment brought in beyond the order's balance.
    OVERPAYMENT = "overpayment"
    #: A second charge the gateway did not deduplicate.
    DUPLICATE_CHARGE = "duplicate_charge"
    #: A refund made at the gateway (its dashboard), recorded when the gateway reports it.
    REFUNDED_AT_GATEWAY = "refunded_at_gateway"
    #: Money held with no reason recovery can name (rows older than today's flows).
    OWED = "owed"
    #: The default of an advisor's manual refund (``checkout payments refund``).
    REQUESTED_BY_CUSTOMER = "requested_by_customer"


@attrs.define(kw_only=True)
class Payment:
    """One attempt to collect money (a card charge, a received bank transfer)."""

    id: str
    purpose: PaymentPurpose
    method: PaymentMethod
    amount: Money
    status: PaymentStatus
    idempotency_key: str
    created_at: datetime
    updated_at: datetime
    reservation_id: str | None = None
    order_id: str | None = None
    gateway_ref: str | None = None
    failure_code: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    refunded: Money = attrs.field(factory=Money.zero)

    @property
    def refundable(self) -> Money:
        """What can still be refunded: succeeded amount less refunds already sent."""
        if self.status is not PaymentStatus.SUCCEEDED:
            return Money.zero()
        return self.amount - self.refunded


@attrs.define(kw_only=True)
class Refund:
    """Money sent back for one payment."""

    id: str
    payment_id: str
    amount: Money
    status: RefundStatus
    idempotency_key: str
    #: A :class:`RefundReason` value, or an advisor's own words for a manual refund.
    reason: str
    created_at: datetime
    updated_at: datetime
    gateway_ref: str | None = None
    failure_code: str | None = None


class DisputeStatus(enum.StrEnum):
    """A chargeback: open until the card network decides (won: the money stays with us; lost:
    it went back to the cardholder)."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


@attrs.define(kw_only=True)
class Dispute:
    """A chargeback the cardholder's bank opened against one of our payments. The gateway moves
    the money; the ledger records that it happened and how it ended."""

    id: str
    payment_id: str
    #: The gateway's dispute id (``dp_…``): one dispute row per gateway dispute.
    gateway_ref: str
    amount: Money
    reason: str
    status: DisputeStatus
    opened_at: datetime
    closed_at: datetime | None = None

    def close(self, *, won: bool, now: datetime) -> None:
        """The network decided."""
        self.status = DisputeStatus.WON if won else DisputeStatus.LOST
        self.closed_at = now
