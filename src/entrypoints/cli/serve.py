"""``checkout serve``: the HTTP API under uvicorn, on the embedded default with no configuration."""

from __future__ import annotations

import importlib.util
import os

import click

from checkout_core.demo import load_demo
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.output import EXIT_USAGE, domain_errors, fail
from entrypoints.settings import SettingsError, require_shared_rate_limits

#: The ASGI application factory each uvicorn worker calls (it loads settings and bootstraps).
ASGI_FACTORY = "entrypoints.http.asgi:create_from_env"


def asgi_available() -> bool:
    """Whether the HTTP entrypoint module is installed."""
    module = ASGI_FACTORY.partition(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port.")
@click.option(
    "--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes (each its own App)."
)
@click.option("--demo", is_flag=True, help="Load the demo data first (idempotent).")
@pass_state
def serve(state: CliState, host: str, port: int, workers: int, demo: bool) -> None:
    """Run the HTTP API (OpenAPI at /schema).

    Before the server starts, the database is brought up to date and, with --demo, the demo data
    is loaded once, so that several workers never race to migrate or seed the same database."""
    if not asgi_available():
        fail(f"the HTTP entrypoint {ASGI_FACTORY} is not installed", EXIT_USAGE)
    # Signing links point at this server unless a public URL is configured (behind a proxy).
    # Set before the settings are read, so this process and every worker agree.
    os.environ.setdefault("CHECKOUT_PUBLIC_URL", f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}")  # noqa: S104 - compares, never binds
    settings = state.settings()
    try:
        require_shared_rate_limits(settings)  # before any worker starts: they would all refuse
    except SettingsError as error:
        fail(str(error), EXIT_USAGE)
    with domain_errors():
        app = state.app()  # bootstrap() migrates the database to head
        if demo:
            added = load_demo(app.ctx.uow)
            click.echo(f"demo data loaded ({added} vehicle(s) added)", err=True)
    # The parent process serves nothing itself: release its connections before the workers open theirs.
    state.close()
    import uvicorn  # here, not at module level: only `serve` needs the server

    click.echo(f"serving on http://{host}:{port} with {workers} worker(s)", err=True)
    uvicorn.run(
        ASGI_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
    )
