"""Reconciliation: our ledger against the gateway, on the sandbox and on localstripe, with a
discrepancy injected on each side and each one expected in its own bucket."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.payments.sandbox import SandboxGateway
from adapters.system.clock import FixedClock
from checkout_core.errors import Forbidden, ValidationFailed
from checkout_core.model.payments import Payment, PaymentMethod, PaymentPurpose, PaymentStatus
from checkout_core.money import Money
from checkout_core.ports.payments import GatewayRecord, PaymentGateway
from checkout_core.usecases.context import Actor, Role
from checkout_core.usecases.reconciliation import (
    LedgerEntry,
    ReconciliationReport,
    compare,
    reconcile_payments,
)
from checkout_core.usecases.reservations import cancel_reservation, reserve_vehicle
from entrypoints.bootstrap import App
from tests.payments.conftest import make_gateway, stripe_app

JOHN = Actor("cus_demo")
SARAH = Actor("adv_sarah", Role.ADVISOR)


def _ledger_row(app: App, *, amount: Money, status: PaymentStatus, key: str, gateway_ref: str | None) -> Payment:
    """A card payment written straight into our ledger (the injected discrepancies)."""
    now = app.ctx.clock.now()
    payment = Payment(
        id="pay_" + key,
        purpose=PaymentPurpose.ORDER,
        method=PaymentMethod.CARD,
        amount=amount,
        status=status,
        idempotency_key=key,
        gateway_ref=gateway_ref,
        created_at=now,
        updated_at=now,
    )
    with app.ctx.uow() as uow:
        uow.ledger.add_payment(payment)
        uow.commit()
    return payment


def _charge_at_gateway(gateway: PaymentGateway, amount: Money, key: str, ledger_id: str | None = None) -> str:
    """A charge made at the gateway directly (as the dashboard, or another system, would)."""
    result = gateway.charge(
        amount=amount,
        source="pm_card_visa",
        idempotency_key=key,
        description="outside the checkout",
        metadata={"ledger_id": ledger_id} if ledger_id else {},
    )
    return result.ref


def _inject_and_reconcile(
    app: App, now: datetime
) -> tuple[ReconciliationReport, dict[str, str], list[tuple[int, int]]]:
    """A clean reservation (charge + refund), a bank transfer, a failed row, and one
    discrepancy of each kind. Returns the report, the refs of the injected ones, the progress."""
    ctx = app.ctx
    gateway = ctx.gateway
    tag = uuid.uuid4().hex[:8]
    matched = reserve_vehicle(ctx, JOHN, vehicle_id="veh_abc123", payment_token="pm_card_visa").reservation
    cancel_reservation(ctx, JOHN, matched.id)  # the deposit's refund matches too

    refs: dict[str, str] = {}
    # at the gateway only: a charge nobody recorded
    refs["outside"] = _charge_at_gateway(gateway, Money(7700), f"outside_{tag}")
    # in our ledger only: a succeeded row whose charge does not exist
    _ledger_row(
        app, amount=Money(5000), status=PaymentStatus.SUCCEEDED, key=f"ghost_{tag}", gateway_ref="pi_ghost_" + tag
    )
    # both, different amounts (the ledger says 60.00, the gateway charged 50.00)
    refs["amount"] = _charge_at_gateway(gateway, Money(5000), f"amount_{tag}", ledger_id=f"pay_amount_{tag}")
    _ledger_row(
        app, amount=Money(6000), status=PaymentStatus.SUCCEEDED, key=f"amount_{tag}", gateway_ref=refs["amount"]
    )
    # both, different statuses (ours failed, the gateway's succeeded), paired by our key only
    refs["status"] = _charge_at_gateway(gateway, Money(4000), f"status_{tag}")
    _ledger_row(app, amount=Money(4000), status=PaymentStatus.FAILED, key=f"status_{tag}", gateway_ref=None)
    # not discrepancies: a failed row with nothing at the gateway, and a bank transfer
    _ledger_row(app, amount=Money(3000), status=PaymentStatus.FAILED, key=f"refused_{tag}", gateway_ref=None)
    with ctx.uow() as uow:
        uow.ledger.add_payment(
            Payment(
                id=f"pay_wire_{tag}",
                purpose=PaymentPurpose.ORDER,
                method=PaymentMethod.BANK_TRANSFER,
                amount=Money(250000),
                status=PaymentStatus.SUCCEEDED,
                idempotency_key=f"transfer:{tag}",
                gateway_ref=f"WIRE-{tag}",
                created_at=ctx.clock.now(),
                updated_at=ctx.clock.now(),
            )
        )
        uow.commit()

    progress: list[tuple[int, int]] = []
    report = reconcile_payments(
        ctx,
        SARAH,
        since=now - timedelta(hours=1),
        until=now + timedelta(hours=1),
        on_progress=lambda done, total: progress.append((done, total)),
    )
    refs["ghost_key"] = f"ghost_{tag}"
    return report, refs, progress


def _assert_buckets(report: ReconciliationReport, refs: dict[str, str], progress: list[tuple[int, int]]) -> None:
    assert not report.is_clean
    assert {(r.kind, r.ref, r.amount) for r in report.missing_in_ledger} == {("charge", refs["outside"], Money(7700))}
    assert [e.idempotency_key for e in report.missing_at_gateway] == [refs["ghost_key"]]
    [amount] = report.amount_mismatch
    assert (amount.ledger.amount, amount.gateway.amount, amount.gateway.ref) == (
        Money(6000),
        Money(5000),
        refs["amount"],
    )
    assert amount.matched_by == "gateway_ref"
    [status] = report.status_mismatch
    assert (status.ledger.status, status.gateway.status, status.gateway.ref) == ("failed", "succeeded", refs["status"])
    assert status.matched_by == "idempotency_key"
    assert sorted(p.ledger.kind for p in report.matched) == ["charge", "refund"]
    assert report.counts == {
        "matched": 2,
        "missing_in_ledger": 1,
        "missing_at_gateway": 1,
        "amount_mismatch": 1,
        "status_mismatch": 1,
    }
    total = progress[-1][1]
    assert progress[0] == (0, total)
    assert progress[-1] == (total, total)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)


def test_each_discrepancy_lands_in_its_bucket_on_the_sandbox(memory_app: App, clock: FixedClock) -> None:
    report, refs, progress = _inject_and_reconcile(memory_app, clock.now())
    _assert_buckets(report, refs, progress)
    assert report.gateway == "sandbox"


@pytest.fixture
def fresh_stripe_app(fresh_localstripe: str, real_clock: FixedClock) -> Iterator[App]:
    """An app on an emptied localstripe (reconciliation lists everything in the window)."""
    app = stripe_app(make_gateway(fresh_localstripe), real_clock)
    yield app
    app.close()


@pytest.mark.slow
def test_each_discrepancy_lands_in_its_bucket_on_localstripe(fresh_stripe_app: App, real_clock: FixedClock) -> None:
    report, refs, progress = _inject_and_reconcile(fresh_stripe_app, real_clock.now())
    _assert_buckets(report, refs, progress)
    assert report.gateway == "stripe"


@pytest.mark.slow
def test_a_refund_made_at_stripe_only_is_missing_in_the_ledger(fresh_stripe_app: App, real_clock: FixedClock) -> None:
    ctx = fresh_stripe_app.ctx
    reservation = reserve_vehicle(ctx, JOHN, vehicle_id="veh_abc123", payment_token="pm_card_visa").reservation
    assert reservation.charge_id is not None
    refund = ctx.gateway.refund(
        charge_ref=reservation.charge_id, amount=Money(1500), idempotency_key="dashboard_1", reason="dashboard"
    )
    now = real_clock.now()
    report = reconcile_payments(ctx, SARAH, since=now - timedelta(hours=1), until=now + timedelta(hours=1))
    assert [(r.kind, r.ref) for r in report.missing_in_ledger] == [("refund", refund.ref)]
    assert [p.ledger.kind for p in report.matched] == ["charge"]


def test_a_clean_period_is_clean(memory_app: App, clock: FixedClock) -> None:
    reservation = reserve_vehicle(memory_app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    cancel_reservation(memory_app.ctx, JOHN, reservation.id)
    now = clock.now()
    report = reconcile_payments(memory_app.ctx, SARAH, since=now - timedelta(days=1), until=now + timedelta(days=1))
    assert report.is_clean
    assert len(report.matched) == 2
    # and a period with nothing at all is clean too
    empty = reconcile_payments(memory_app.ctx, SARAH, since=now - timedelta(days=9), until=now - timedelta(days=8))
    assert empty.is_clean
    assert empty.matched == ()


def test_a_pending_row_whose_answer_was_lost_is_a_status_mismatch_until_recovery(
    memory_app: App, clock: FixedClock
) -> None:
    sandbox = memory_app.ctx.gateway
    assert isinstance(sandbox, SandboxGateway)
    sandbox.fail_after_charge = 1
    with pytest.raises(Exception, match="connection lost"):
        reserve_vehicle(memory_app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa")
    now = clock.now()
    report = reconcile_payments(memory_app.ctx, SARAH, since=now - timedelta(hours=1), until=now + timedelta(hours=1))
    [pair] = report.status_mismatch
    assert (pair.ledger.status, pair.gateway.status, pair.matched_by) == ("pending", "succeeded", "idempotency_key")


def test_only_staff_may_reconcile_and_the_period_must_make_sense(memory_app: App, clock: FixedClock) -> None:
    now = clock.now()
    with pytest.raises(Forbidden):
        reconcile_payments(memory_app.ctx, JOHN, since=now - timedelta(days=1), until=now)
    with pytest.raises(ValidationFailed):
        reconcile_payments(memory_app.ctx, SARAH, since=now, until=now - timedelta(days=1))
    naive_since, naive_until = datetime(2025, 1, 1), datetime(2025, 1, 2)  # no time zone, on purpose
    with pytest.raises(ValidationFailed):
        reconcile_payments(memory_app.ctx, SARAH, since=naive_since, until=naive_until)


# -- the pairing rules, on hand-made records -----------------------------------------------------

SINCE = datetime(2025, 12, 1, tzinfo=UTC)
UNTIL = datetime(2025, 12, 2, tzinfo=UTC)


def _entry(
    id: str, at: datetime, *, ref: str | None = None, status: str = "succeeded", kind: str = "charge"
) -> LedgerEntry:
    return LedgerEntry(
        kind=kind,
        id=id,
        payment_id=id,
        amount=Money(10000),
        status=status,
        idempotency_key=f"key_{id}",
        gateway_ref=ref,
        created_at=at,
    )


def _record(
    ref: str, at: datetime, *, status: str = "succeeded", key: str | None = None, ledger_id: str | None = None
) -> GatewayRecord:
    return GatewayRecord(
        kind="charge",
        ref=ref,
        amount=Money(10000),
        status=status,
        created_at=at,
        idempotency_key=key,
        ledger_id=ledger_id,
    )


def test_records_either_side_of_the_boundary_still_pair() -> None:
    """Our row is stamped just before midnight, the gateway's just after: paired, not reported
    twice; an unpaired record outside the period belongs to the next report."""
    just_before = UNTIL - timedelta(milliseconds=300)
    just_after = UNTIL + timedelta(seconds=1)
    report = compare(
        [_entry("pay_1", just_before, ref="pi_1")],
        [_record("pi_1", just_after), _record("pi_next_day", just_after + timedelta(minutes=2))],
        since=SINCE,
        until=UNTIL,
    )
    assert report.is_clean
    assert [p.gateway.ref for p in report.matched] == ["pi_1"]


def test_pairing_falls_back_from_ref_to_key_to_ledger_id() -> None:
    at = SINCE + timedelta(hours=1)
    report = compare(
        [_entry("pay_a", at, ref="pi_a"), _entry("pay_b", at), _entry("pay_c", at)],
        [_record("pi_a", at), _record("pi_b", at, key="key_pay_b"), _record("pi_c", at, ledger_id="pay_c")],
        since=SINCE,
        until=UNTIL,
    )
    assert [(p.ledger.id, p.gateway.ref, p.matched_by) for p in report.matched] == [
        ("pay_a", "pi_a", "gateway_ref"),
        ("pay_b", "pi_b", "idempotency_key"),
        ("pay_c", "pi_c", "ledger_id"),
    ]


def test_a_second_charge_for_one_row_is_reported() -> None:
    """Two gateway charges carry our key (a retry the gateway did not deduplicate): the row pairs
    with the succeeded one and the other is money we must explain."""
    at = SINCE + timedelta(hours=1)
    report = compare(
        [_entry("pay_1", at)],
        [_record("pi_first", at, key="key_pay_1"), _record("pi_second", at, key="key_pay_1")],
        since=SINCE,
        until=UNTIL,
    )
    assert [p.gateway.ref for p in report.matched] == ["pi_first"]
    assert [r.ref for r in report.missing_in_ledger] == ["pi_second"]


def test_failed_on_one_side_and_absent_on_the_other_moved_no_money() -> None:
    at = SINCE + timedelta(hours=1)
    report = compare(
        [_entry("pay_refused", at, status="failed")],
        [_record("pi_declined_elsewhere", at, status="failed")],
        since=SINCE,
        until=UNTIL,
    )
    assert report.is_clean


def test_a_dispute_adjustment_is_money_missing_in_the_ledger() -> None:
    at = SINCE + timedelta(hours=1)
    adjustment = GatewayRecord(kind="adjustment", ref="dp_1", amount=Money(-10000), status="available", created_at=at)
    report = compare([], [adjustment], since=SINCE, until=UNTIL)
    assert report.missing_in_ledger == (adjustment,)
