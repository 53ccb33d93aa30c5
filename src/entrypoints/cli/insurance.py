"""``checkout insurance``: an advisor's verdict on a buyer's proof of insurance."""

from __future__ import annotations

import click

from checkout_core.usecases.orders import reject_insurance, verify_insurance
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.orders import report_order
from entrypoints.cli.output import domain_errors, json_option


@click.group()
def insurance() -> None:
    """Proof of insurance."""


@insurance.command("verify")
@click.argument("order_id")
@json_option
@pass_state
def verify(state: CliState, order_id: str, as_json: bool) -> None:
    """Accept the submitted proof; the order moves on (straight to delivery when nothing is due)."""
    with domain_errors():
        order = verify_insurance(state.app().ctx, state.actor, order_id)
    report_order(state, order, as_json, "insurance verified")


@insurance.command("reject")
@click.argument("order_id")
@click.option("--reason", required=True, help="What the buyer must fix; they are asked for a new upload.")
@json_option
@pass_state
def reject(state: CliState, order_id: str, reason: str, as_json: bool) -> None:
    """Reject the submitted proof with a reason the buyer can act on."""
    if len(reason) > 500:
        raise click.BadParameter("must be at most 500 characters", param_hint="--reason")
    with domain_errors():
        order = reject_insurance(state.app().ctx, state.actor, order_id, reason.strip())
    report_order(state, order, as_json, "insurance rejected")
