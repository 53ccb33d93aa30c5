"""How the CLI prints: human tables by default, JSON with ``--json``; errors to stderr with a
non-zero exit code that says what kind of failure it was."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from checkout_core.errors import DomainError, NotFound, ValidationFailed
from entrypoints.settings import SettingsError

#: Exit codes: 0 ok, 1 a check found problems (reconcile, verify), 2 bad usage or input,
#: 3 not found, 4 refused by a business rule (conflict, illegal step), 5 outside service failed.
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_RULE = 4
EXIT_UNAVAILABLE = 5

F = TypeVar("F", bound=Callable[..., Any])


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> None:
    """Print a plain aligned table."""
    cells = [[str(c) for c in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


def exit_code_for(error: DomainError) -> int:
    """The exit code a domain error maps to."""
    if isinstance(error, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(error, ValidationFailed) or error.code in ("validation_error", "amount_mismatch"):
        return EXIT_USAGE
    if error.code in ("payment_gateway_unavailable",):
        return EXIT_UNAVAILABLE
    return EXIT_RULE


@contextmanager
def domain_errors() -> Iterator[None]:
    """Turn domain and settings errors into a message on stderr and a meaningful exit code."""
    try:
        yield
    except SettingsError as error:
        click.echo(f"error: {error}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    except DomainError as error:
        click.echo(f"error [{error.code}]: {error.message}", err=True)
        raise SystemExit(exit_code_for(error)) from None
