"""``checkout customers alerts``: advisors see card-testing alerts; and ``checkout serve``
refuses per-process rate limits on a shared database."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from checkout_core.errors import PaymentDeclined
from checkout_core.usecases.context import Actor
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import App
from entrypoints.cli.app_factory import CliState
from entrypoints.cli.main import cli
from entrypoints.settings import load_settings
from tests.cli.conftest import Run, out_json


def test_advisors_see_a_customers_card_testing_alert(run: Run, memory_app: App) -> None:
    assert run("customers", "alerts", "cus_demo").output.strip() == "no alerts for cus_demo"
    tester = Actor("cus_demo", client_ip="198.51.100.4")
    for _ in range(5):
        with pytest.raises(PaymentDeclined):
            reserve_vehicle(memory_app.ctx, tester, vehicle_id="veh_abc123", payment_token="tok_chargeDeclined")

    listed = run("customers", "alerts", "cus_demo", "--json")
    assert listed.exit_code == 0, listed.output
    [alert] = out_json(listed)
    assert alert["name"] == "CardTestingSuspected"
    assert (alert["customerId"], alert["subject"], alert["clientIp"], alert["declines"]) == (
        "cus_demo",
        "customer",
        "198.51.100.4",
        5,
    )
    table = run("customers", "alerts", "cus_demo")
    assert "CardTestingSuspected" in table.output
    assert "198.51.100.4" in table.output


def test_serve_refuses_per_process_limits_on_a_shared_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECKOUT_PUBLIC_URL", "http://127.0.0.1:8000")  # serve sets it if unset
    env = {"CHECKOUT_DATABASE_URL": "postgresql://checkout@127.0.0.1:1/never"}
    state = CliState(load_settings=lambda: load_settings(env))
    result = CliRunner().invoke(cli, ["serve"], obj=state)
    assert result.exit_code == 2, result.output
    assert "CHECKOUT_REDIS_URL is required" in result.output
    # Asking for per-process counters explicitly is allowed (here it then fails on the database).
    explicit = CliState(load_settings=lambda: load_settings({**env, "CHECKOUT_RATE_LIMIT_STORE": "memory"}))
    assert "CHECKOUT_REDIS_URL" not in CliRunner().invoke(cli, ["serve"], obj=explicit).output
