"""``checkout tokens issue``: bearer tokens for local use and scripts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from adapters.auth.jwt_tokens import JwtTokens
from checkout_core.usecases.context import Role
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.output import domain_errors, emit_json, json_option
from entrypoints.cli.output import when as iso_when


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
@click.option("--ttl-hours", type=click.IntRange(1, 24 * 30), default=12, show_default=True, help="Validity.")
@json_option
@pass_state
def issue(state: CliState, subject: str, role: str, ttl_hours: int, as_json: bool) -> None:
    """Print a token that a server started with the same settings accepts.

    The embedded default signs with the secret generated once in the data directory; otherwise
    with CHECKOUT_JWT_SECRET. Only the token goes to stdout, so `$(checkout tokens issue ...)` works."""
    subject = subject.strip()
    if not subject or len(subject) > 100:
        raise click.BadParameter("must be an id of 1 to 100 characters", param_hint="--customer")
    with domain_errors():
        app = state.app()
        # The wall clock, not the App's: verifiers (PyJWT) check iat/exp against real time,
        # so a token stamped with a test or demo clock would be born expired.
        now = datetime.now(UTC)
        ttl = timedelta(hours=ttl_hours)
        token = JwtTokens(app.jwt_secret).issue(subject, Role(role), now=now, ttl=ttl)
    if as_json:
        emit_json({"token": token, "subject": subject, "role": role, "expiresAt": iso_when(now + ttl)})
        return
    click.echo(token)
