"""``checkout reservations``: list, show, cancel, and the expiry and recovery jobs."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from adapters.payments.sandbox import SandboxGateway
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.errors import PaymentGatewayUnavailable
from checkout_core.events import DomainEvent
from checkout_core.ports.payments import ChargeResult
from checkout_core.usecases.reservations import get_reservation
from entrypoints.bootstrap import App, bootstrap_in_memory
from entrypoints.cli.app_factory import CliState
from entrypoints.cli.main import cli
from tests.cli.conftest import JOHN, Run, out_json, reserve, squeeze


def test_list_and_show(run: Run, memory_app: App) -> None:
    reservation_id = reserve(memory_app)
    rows = out_json(run("reservations", "list", "--json"))
    assert [r["reservationId"] for r in rows] == [reservation_id]
    assert rows[0]["status"] == "confirmed"
    assert rows[0]["depositCharge"]["amount"] == 10000
    assert (
        out_json(run("reservations", "list", "--customer", "cus_demo", "--json"))[0]["reservationId"] == reservation_id
    )
    assert out_json(run("reservations", "list", "--customer", "cus_other", "--json")) == []
    assert out_json(run("reservations", "list", "--status", "expired", "--json")) == []

    shown = out_json(run("reservations", "show", reservation_id, "--json"))
    assert shown == {
        **shown,
        "reservationId": reservation_id,
        "vehicleId": "veh_abc123",
        "status": "confirmed",
        "depositAmount": 10000,
        "expiresAt": "2025-12-26T10:30:00Z",
        "createdAt": "2025-12-23T10:30:00Z",
    }
    human = run("reservations", "show", reservation_id)
    assert human.exit_code == 0
    assert "Expires at: 2025-12-26T10:30:00Z" in squeeze(human.stdout)
    table = run("reservations", "list")
    assert reservation_id in table.stdout
    assert "$100.00" in table.stdout


def test_show_unknown_is_exit_3(run: Run) -> None:
    result = run("reservations", "show", "res_nope")
    assert result.exit_code == 3
    assert "res_nope not found" in result.stderr
    assert result.stdout == ""


def test_list_bad_status_is_exit_2(run: Run) -> None:
    assert run("reservations", "list", "--status", "held").exit_code == 2


def test_cancel_refunds_and_releases(run: Run, memory_app: App) -> None:
    reservation_id = reserve(memory_app)
    result = run("reservations", "cancel", reservation_id)
    assert result.exit_code == 0, result.output
    assert "cancelled" in result.stdout
    assert "$100.00" in result.stdout
    cars = out_json(run("vehicles", "list", "--status", "available", "--json"))
    assert "veh_abc123" in [c["id"] for c in cars]

    again = run("reservations", "cancel", reservation_id)
    assert again.exit_code == 4
    assert "it is cancelled" in again.stderr
    assert run("reservations", "cancel", "res_nope").exit_code == 3


def test_expire_once(run: Run, memory_app: App, clock: FixedClock) -> None:
    reservation_id = reserve(memory_app)
    assert out_json(run("reservations", "expire", "--json"))["expired"] == 0
    clock.advance(timedelta(hours=72))
    assert out_json(run("reservations", "expire", "--json", "--batch-size", "1")) == {
        "expired": 1,
        "at": "2025-12-26T10:30:00Z",
    }
    reservation = get_reservation(memory_app.ctx, JOHN, reservation_id)
    assert reservation.reservation.status.value == "expired"
    assert reservation.deposit is not None
    assert reservation.deposit.refunded.cents == 10000
    human = run("reservations", "expire")
    assert human.exit_code == 0
    assert "expired 0 reservation(s)" in human.stdout


def test_expire_bad_options(run: Run) -> None:
    assert run("reservations", "expire", "--batch-size", "0").exit_code == 2
    assert run("reservations", "expire", "--loop", "--interval", "0").exit_code == 2


def test_expire_loop_stops_cleanly_on_sigterm(clock: FixedClock, caplog: pytest.LogCaptureFixture) -> None:
    def stop_after_first_expiry(events: Sequence[DomainEvent]) -> None:
        # SIGTERM arrives in the middle of a pass: the pass must finish and the loop end cleanly.
        if any(e.name == "ReservationExpired" for e in events):
            signal.raise_signal(signal.SIGTERM)

    app = bootstrap_in_memory(clock=clock, ids=SequentialIds(), handlers=(stop_after_first_expiry,))
    load_demo(app.ctx.uow)
    reserve(app)
    clock.advance(timedelta(hours=73))
    previous = signal.getsignal(signal.SIGTERM)
    result = CliRunner().invoke(
        cli, ["reservations", "expire", "--loop", "--interval", "0.1", "--json"], obj=CliState.using(app)
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == '{"expired": 1, "at": "2025-12-26T11:30:00Z"}'
    # A worker's own lines go through logging (the service's one format: JSON for a shipper).
    assert "received SIGTERM: stopped after the pass in progress" in caplog.text
    assert signal.getsignal(signal.SIGTERM) == previous  # handlers restored


class LostResponseGateway(SandboxGateway):
    """Charges the card, then loses the answer: the crash between charge and commit."""

    def charge(self, **kwargs: Any) -> ChargeResult:
        super().charge(**kwargs)
        raise PaymentGatewayUnavailable("connection reset after the charge was sent")


def test_recover_settles_a_deposit_left_pending_by_a_crash(clock: FixedClock) -> None:
    app = bootstrap_in_memory(clock=clock, ids=SequentialIds(), gateway=LostResponseGateway(clock))
    load_demo(app.ctx.uow)
    with pytest.raises(PaymentGatewayUnavailable):
        reserve(app)
    state = CliState.using(app)
    nothing_yet = out_json(CliRunner().invoke(cli, ["reservations", "recover", "--json"], obj=state))
    assert nothing_yet["pendingDepositsSettled"] == 0  # still inside the grace period
    clock.advance(timedelta(minutes=5))
    assert out_json(CliRunner().invoke(cli, ["reservations", "recover", "--json"], obj=state)) == {
        "pendingDepositsSettled": 1,
        "cardPaymentsSettled": 0,
        "refundsOpened": 0,
        "pendingRefundsSettled": 0,
    }
    shown = out_json(CliRunner().invoke(cli, ["reservations", "show", "res_000001", "--json"], obj=state))
    assert shown["status"] == "confirmed"
    human = CliRunner().invoke(cli, ["reservations", "recover"], obj=state)
    assert human.exit_code == 0
    assert "Pending deposits settled: 0" in squeeze(human.stdout)
