"""A payment gateway for HTTP tests: the sandbox, counting charges, able to hold or fail them."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime

from adapters.payments.sandbox import SandboxGateway
from checkout_core.errors import PaymentGatewayUnavailable
from checkout_core.money import Money
from checkout_core.ports.clock import Clock
from checkout_core.ports.payments import ChargeResult, GatewayRecord, RefundResult


class SpyGateway:
    """The sandbox, counting charges; ``hold()`` makes charges wait for ``release()``, and
    ``fail_with`` makes them raise."""

    name = "spy"

    def __init__(self, clock: Clock) -> None:
        self.inner = SandboxGateway(clock)
        self.charges = 0
        self.entered = threading.Event()
        self._gate: threading.Event | None = None
        self.fail_with: Exception | None = None

    def hold(self) -> None:
        """Charges block until :meth:`release`."""
        self._gate = threading.Event()

    def release(self) -> None:
        """Let held charges go on."""
        if self._gate is not None:
            self._gate.set()

    def charge(
        self, *, amount: Money, source: str, idempotency_key: str, description: str, metadata: Mapping[str, str]
    ) -> ChargeResult:
        """Count, maybe wait or fail, then charge in the sandbox."""
        self.charges += 1
        self.entered.set()
        if self._gate is not None:
            self._gate.wait(timeout=10)
        if self.fail_with is not None:
            raise self.fail_with
        return self.inner.charge(
            amount=amount, source=source, idempotency_key=idempotency_key, description=description, metadata=metadata
        )

    def find_charge(self, *, idempotency_key: str, ledger_id: str) -> ChargeResult | None:
        """Delegated."""
        return self.inner.find_charge(idempotency_key=idempotency_key, ledger_id=ledger_id)

    def refund(self, *, charge_ref: str, amount: Money, idempotency_key: str, reason: str) -> RefundResult:
        """Delegated."""
        return self.inner.refund(charge_ref=charge_ref, amount=amount, idempotency_key=idempotency_key, reason=reason)

    def get_refund(self, refund_ref: str) -> RefundResult:
        """Delegated."""
        return self.inner.get_refund(refund_ref)

    def activity(self, since: datetime, until: datetime) -> Iterable[GatewayRecord]:
        """Delegated."""
        return self.inner.activity(since, until)


GATEWAY_DOWN = PaymentGatewayUnavailable("the payment gateway timed out")
