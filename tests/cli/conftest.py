"""CLI test helpers: run ``checkout`` in-process against an in-memory App, and build the spec's
order through the core use cases (the customer's part) so the CLI can do the advisor's part."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner, Result

from checkout_core.model.order import Order
from checkout_core.usecases.context import Actor, Role
from checkout_core.usecases.orders import complete_signing, place_order, start_signing, submit_insurance
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import App
from entrypoints.cli.app_factory import CliState
from entrypoints.cli.main import cli
from tests.core.spec_example import spec_order

JOHN = Actor("cus_demo")
SARAH = Actor("adv_sarah", Role.ADVISOR)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

Run = Callable[..., Result]


@pytest.fixture
def run(memory_app: App) -> Run:
    """``run("orders", "show", id, env={...})`` → the click Result, against ``memory_app``."""

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), obj=CliState.using(memory_app), env=env)

    return invoke


def out_json(result: Result) -> Any:
    """The command's stdout parsed as JSON (fails the test with the output if it is not)."""
    assert result.exit_code == 0, (result.exit_code, result.output)
    return json.loads(result.stdout)


def squeeze(text: str) -> str:
    """``text`` with runs of spaces collapsed, so assertions ignore table alignment."""
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def reserve(app: App) -> str:
    """John reserves the spec's Honda Civic with tok_visa; the reservation id."""
    return reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation.id


def spec_order_placed(app: App, **changes: object) -> Order:
    """The spec's order (financed, trade-in, $2,500 down, delivery), placed by John."""
    return place_order(app.ctx, JOHN, spec_order(reserve(app), **changes))


def signed_and_insured(app: App, order: Order) -> None:
    """John signs the agreement and uploads proof of insurance (the customer's part)."""
    envelope = start_signing(app.ctx, JOHN, order.id)
    complete_signing(
        app.ctx,
        order_id=order.id,
        envelope_id=envelope.id,
        typed_name="John Doe",
        consent=True,
        ip_address="127.0.0.1",
        user_agent="pytest",
    )
    submit_insurance(app.ctx, JOHN, order.id, content=PDF, policy_number="POL-12345", provider="Intact Insurance")


DELIVERY_DAY = date(2025, 12, 28)
