"""A deterministic fault-injection harness for the money flows.

A flow runs against its real adapters with two thin wrappers that see every *step boundary*:

- after each unit of work commits (the state between two transactions), and
- before and after each gateway call that moves money (``charge``, ``refund``): "before" is a
  crash with the intent committed and nothing sent; "after" is a crash with the money moved and
  the answer lost.

A :class:`FaultPlan` numbers the boundaries as they are crossed and raises :class:`Crash` — a
``BaseException``, so no ``except Exception`` in the code under test can swallow it, exactly as
nothing runs after a ``kill -9`` — at the one it was told to. A run without a crash records the
trace of boundary labels, which the tests pin (so a flow that grows a step fails its test until
the new boundary is in the table of ``docs/payments.md``).

Database state after a Crash is what the committed transactions left: a unit of work open when it
is raised rolls back on exit (SQLite and PostgreSQL alike; the memory adapter keeps nothing
uncommitted either).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import attrs

from checkout_core.money import Money
from checkout_core.ports.payments import ChargeResult, GatewayRecord, PaymentGateway, RefundResult
from checkout_core.ports.unit_of_work import UnitOfWork
from checkout_core.usecases.context import Context


class Crash(BaseException):
    """The process died here (simulated): nothing after this point runs."""


@attrs.define
class FaultPlan:
    """Which boundary to crash at (None: none), and the labels of those crossed so far."""

    crash_at: int | None = None
    trace: list[str] = attrs.field(factory=list)
    armed: bool = True

    def boundary(self, label: str) -> None:
        """Cross a step boundary: crash here if this is the planned one."""
        if not self.armed:
            return
        index = len(self.trace)
        self.trace.append(label)
        if index == self.crash_at:
            self.armed = False  # one crash per run: the recovery that follows runs clean
            raise Crash(f"crash at boundary {index}: {label}")


class _FaultyUnitOfWork:
    """A unit of work whose commit is a boundary (after the commit: the transaction is durable)."""

    def __init__(self, inner: UnitOfWork, plan: FaultPlan) -> None:
        self._inner = inner
        self._plan = plan

    def __enter__(self) -> Self:
        self._inner.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._inner.__exit__(exc_type, exc, tb)

    def commit(self) -> None:
        self._inner.commit()
        self._plan.boundary("commit")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class FaultyGateway:
    """The real gateway, with a boundary before and after each call that moves money."""

    def __init__(self, inner: PaymentGateway, plan: FaultPlan) -> None:
        self._inner = inner
        self._plan = plan
        self.name = inner.name

    def charge(
        self, *, amount: Money, source: str, idempotency_key: str, description: str, metadata: Mapping[str, str]
    ) -> ChargeResult:
        self._plan.boundary("before charge")
        result = self._inner.charge(
            amount=amount, source=source, idempotency_key=idempotency_key, description=description, metadata=metadata
        )
        self._plan.boundary("after charge")
        return result

    def refund(self, *, charge_ref: str, amount: Money, idempotency_key: str, reason: str) -> RefundResult:
        self._plan.boundary("before refund")
        result = self._inner.refund(
            charge_ref=charge_ref, amount=amount, idempotency_key=idempotency_key, reason=reason
        )
        self._plan.boundary("after refund")
        return result

    def find_charge(self, *, idempotency_key: str, ledger_id: str) -> ChargeResult | None:
        return self._inner.find_charge(idempotency_key=idempotency_key, ledger_id=ledger_id)

    def get_refund(self, refund_ref: str) -> RefundResult:
        return self._inner.get_refund(refund_ref)

    def activity(self, since: datetime, until: datetime) -> Iterable[GatewayRecord]:
        return self._inner.activity(since, until)


def faulty(ctx: Context, plan: FaultPlan) -> Context:
    """``ctx`` with every commit and every money-moving gateway call a boundary of ``plan``."""
    factory: Callable[[], UnitOfWork] = ctx.uow

    def uow() -> UnitOfWork:
        return _FaultyUnitOfWork(factory(), plan)  # type: ignore[return-value]  # a transparent proxy

    return attrs.evolve(ctx, uow=uow, gateway=FaultyGateway(ctx.gateway, plan))
