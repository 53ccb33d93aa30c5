"""``checkout tokens issue``: bearer tokens for local use and scripts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from checkout_core.usecases.context import Role
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.output import domain_errors, emit_json, json_option
from entrypoints.cli.output import when as iso_when

#: ``--ttl-hours`` when not given (capped by CHECKOUT_MAX_TOKEN_TTL_HOURS).
DEFAULT_TTL_HOURS = 12


@click.group()
def tokens() -> None:
    """Bearer tokens for the HTTP API."""


@tokens.command("issue")
@click.option(
    "--customer", "subject", required=True, metavar="ID", help="Who the token is for (customer or advisor id)."
)
@click.option(
    "--role",
    type=click.Choice([Role.CUSTOMER.value, Role.ADVISOR.value]),
    default=Role.CUSTOMER.value,
    show_default=True,
    help="The caller's role.",
)
@click.option(
    "--ttl-hours",
    type=click.IntRange(min=1),
    default=None,
    help="Validity in hours: default 12, at most CHECKOUT_MAX_TOKEN_TTL_HOURS (default 24).",
)
@json_option
@pass_state
def issue(state: CliState, subject: str, role: str, ttl_hours: int | None, as_json: bool) -> None:
    """Print a token that a server started with the same settings accepts.

    The embedded default signs with the secret generated once in the data directory; otherwise
    with CHECKOUT_JWT_SECRET. Only the token goes to stdout, so `$(checkout tokens issue ...)` works."""
    subject = subject.strip()
    if not subject or len(subject) > 100:
        raise click.BadParameter("must be an id of 1 to 100 characters", param_hint="--customer")
    # Servers refuse tokens that live longer than this: refuse to make one.
    max_hours = state.settings().max_token_ttl_hours
    if ttl_hours is None:
        ttl_hours = min(DEFAULT_TTL_HOURS, max_hours)
    elif ttl_hours > max_hours:
        raise click.BadParameter(
            f"{ttl_hours} is above the maximum token lifetime, {max_hours} (CHECKOUT_MAX_TOKEN_TTL_HOURS)",
            param_hint="--ttl-hours",
        )
    with domain_errors():
        app = state.app()
        # The wall clock, not the App's: verifiers (PyJWT) check iat/exp against real time,
        # so a token stamped with a test or demo clock would be born expired.
        now = datetime.now(UTC)
        ttl = timedelta(hours=ttl_hours)
        token = app.tokens.issue(subject, Role(role), now=now, ttl=ttl)
    if as_json:
        emit_json({"token": token, "subject": subject, "role": role, "expiresAt": iso_when(now + ttl)})
        return
    click.echo(token)
