"""The ``checkout`` command: one group, sub-commands registered from their modules."""

from __future__ import annotations

import click

from entrypoints.cli.quote import quote


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Checkout & purchase backend: serve the API, run jobs, and work orders as an advisor.

    Settings come from CHECKOUT_* environment variables; with none set, everything runs on the
    embedded default (SQLite and files under ./.checkout, sandbox payments, built-in signer)."""


cli.add_command(quote)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="checkout")
