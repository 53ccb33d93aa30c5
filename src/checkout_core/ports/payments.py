"""The payment gateway port. Card data never reaches us: ``source`` is a gateway token or a
PaymentMethod id. Declines are results, not exceptions; an unreachable or failing gateway raises
PaymentGatewayUnavailable, after which the same call with the same key is safe to repeat."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

import attrs

from checkout_core.money import Money


class ChargeStatus(enum.StrEnum):
    """What the gateway says about a charge."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"


@attrs.frozen(kw_only=True)
class ChargeResult:
    """The gateway's answer to a charge. ``ref`` is its id (e.g. a PaymentIntent id)."""

    ref: str
    status: ChargeStatus
    amount: Money
    decline_code: str | None = None
    message: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    charge_id: str | None = None


class RefundOutcome(enum.StrEnum):
    """What the gateway says about a refund."""

    SUCCEEDED = "succeeded"
    PENDING = "pending"
    FAILED = "failed"


@attrs.frozen(kw_only=True)
class RefundResult:
    """The gateway's answer to a refund."""

    ref: str
    status: RefundOutcome
    amount: Money
    failure_code: str | None = None


@attrs.frozen(kw_only=True)
class GatewayRecord:
    """One charge or refund as the gateway has it (for reconciliation)."""

    kind: str  # "charge" or "refund"
    ref: str
    amount: Money
    status: str
    created_at: datetime
    idempotency_key: str | None = None
    ledger_id: str | None = None


class PaymentGateway(Protocol):
    """Charges cards and refunds them (Stripe, or the sandbox for the embedded default)."""

    name: str

    def charge(
        self,
        *,
        amount: Money,
        source: str,
        idempotency_key: str,
        description: str,
        metadata: Mapping[str, str],
    ) -> ChargeResult:
        """Charge ``amount`` to the token / PaymentMethod ``source``; same key → same charge."""
        ...

    def find_charge(self, *, idempotency_key: str, ledger_id: str) -> ChargeResult | None:
        """What became of an earlier charge attempt (recovery after a crash); None if never made."""
        ...

    def refund(self, *, charge_ref: str, amount: Money, idempotency_key: str, reason: str) -> RefundResult:
        """Refund part or all of a charge; same key → same refund."""
        ...

    def get_refund(self, refund_ref: str) -> RefundResult:
        """The current status of a refund (for following pending refunds to the end)."""
        ...

    def activity(self, since: datetime, until: datetime) -> Iterable[GatewayRecord]:
        """Charges and refunds created in [since, until), for reconciliation."""
        ...
