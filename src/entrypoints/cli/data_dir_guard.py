"""Commands never invent an empty embedded store.

Run from the wrong directory, a command on the embedded default would create ``./.checkout``
with an empty database and report "no reservations" as if that were true. Only the commands
that set a store up (``serve``, ``db``, ``demo``, and ``tokens``, which may run while a first
``serve`` is still creating it) may create it; every other one stops with a message naming the
directory it looked in (``checkout info`` shows what the CLI uses)."""

from __future__ import annotations

import click

from entrypoints.cli.output import EXIT_NOT_FOUND, fail
from entrypoints.settings import Settings

#: Top-level commands that create the embedded database when it is missing.
CREATING_COMMANDS = frozenset({"serve", "db", "demo", "tokens"})

EMBEDDED_DATABASE = "checkout.sqlite3"


def running_command() -> str:
    """The top-level command being run (``reservations`` for ``checkout reservations list``)."""
    context = click.get_current_context(silent=True)
    if context is None:
        return ""
    parts = context.command_path.split()
    return parts[1] if len(parts) > 1 else ""


def require_embedded_store(settings: Settings) -> None:
    """Stop (exit 3) unless the embedded database exists or this command may create it."""
    if not settings.is_embedded_sqlite or settings.database_url:
        return
    database = settings.data_dir / EMBEDDED_DATABASE
    if database.exists() or running_command() in CREATING_COMMANDS:
        return
    fail(
        f"no checkout database in {settings.data_dir.resolve()} (no {EMBEDDED_DATABASE}): run the command "
        "where the server runs, set CHECKOUT_DATA_DIR (or CHECKOUT_DATABASE_URL), or create one with "
        "`checkout db upgrade`; `checkout info` shows what the CLI uses",
        EXIT_NOT_FOUND,
    )
