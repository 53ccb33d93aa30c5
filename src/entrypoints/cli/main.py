"""The ``checkout`` command: one group, sub-commands registered from their modules."""

from __future__ import annotations

import importlib

import click

from entrypoints.cli.app_factory import DEFAULT_ADVISOR_ID, CliState
from entrypoints.observability import version as running

#: Every sub-command as (parent group path, "module:attribute"): "" is the top-level ``checkout``
#: group, "payments" its ``payments`` group, and so on. Adding a command module is one line here
#: (a group must be listed before its children), e.g. ("payments", "entrypoints.cli.reconcile:reconcile").
COMMANDS: tuple[tuple[str, str], ...] = (
    ("", "entrypoints.cli.info:info"),
    ("", "entrypoints.cli.quote:quote"),
    ("", "entrypoints.cli.serve:serve"),
    ("", "entrypoints.cli.db:db"),
    ("", "entrypoints.cli.demo:demo"),
    ("", "entrypoints.cli.tokens:tokens"),
    ("", "entrypoints.cli.vehicles:vehicles"),
    ("", "entrypoints.cli.reservations:reservations"),
    ("", "entrypoints.cli.orders:orders"),
    ("", "entrypoints.cli.insurance:insurance"),
    ("", "entrypoints.cli.delivery:delivery"),
    ("", "entrypoints.cli.payments:payments"),
    ("payments", "entrypoints.cli.reconcile:reconcile"),
    ("payments", "entrypoints.cli.recovery:recover"),
    ("payments", "entrypoints.cli.recovery:audit"),
    ("", "entrypoints.cli.documents:documents"),
    ("", "entrypoints.cli.events:events"),
    ("", "entrypoints.cli.customers:customers"),
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    version=running.version(),
    prog_name="checkout",
    message=f"%(prog)s %(version)s (commit {running.commit()})",
)
@click.option(
    "--as",
    "acting_as",
    envvar="CHECKOUT_ADVISOR_ID",
    default=DEFAULT_ADVISOR_ID,
    show_default=True,
    metavar="ADVISOR_ID",
    help="The advisor the commands act as (env CHECKOUT_ADVISOR_ID).",
)
@click.pass_context
def cli(ctx: click.Context, acting_as: str) -> None:
    """Checkout & purchase backend: serve the API, run jobs, and work orders as an advisor.

    Settings come from CHECKOUT_* environment variables; with none set, everything runs on the
    embedded default (SQLite and files under ./.checkout, sandbox payments, built-in signer).

    Exit codes: 0 ok, 1 a check found problems, 2 bad usage or input, 3 not found,
    4 refused by a business rule, 5 an outside service (database, gateway) is unavailable."""
    acting_as = acting_as.strip()
    if not acting_as or len(acting_as) > 100:
        raise click.BadParameter("must be an advisor id of 1 to 100 characters", param_hint="--as")
    state = ctx.ensure_object(CliState)
    state.actor_id = acting_as
    ctx.call_on_close(state.close)


def _register(root: click.Group) -> None:
    for parent_name, target in COMMANDS:
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        parent: click.Command | None = root
        for name in parent_name.split():
            parent = parent.commands.get(name) if isinstance(parent, click.Group) else None
        if not isinstance(parent, click.Group):
            raise TypeError(f"{target}: {parent_name!r} is not a registered command group")
        parent.add_command(command)


_register(cli)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="checkout")
