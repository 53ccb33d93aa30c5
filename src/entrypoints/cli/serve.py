"""``checkout serve``: the HTTP API under uvicorn, on the embedded default with no configuration."""

from __future__ import annotations

import importlib.util
import logging
import logging.config
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from checkout_core.demo import load_demo
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.output import EXIT_USAGE, domain_errors, fail
from entrypoints.http.malloc_arenas import arenas_for_workers
from entrypoints.observability.logs import logging_config
from entrypoints.settings import SettingsError, require_production_ready, require_shared_rate_limits

log = logging.getLogger("checkout.serve")

#: prometheus-client's variable for the directory of the workers' shared samples.
MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

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
        require_production_ready(settings)  # nothing host-local behind a production API
    except SettingsError as error:
        fail(str(error), EXIT_USAGE)
    # One format from here on: the migrations' lines, ours, and uvicorn's in every worker.
    log_config = logging_config(settings.log_level, settings.log_format)
    logging.config.dictConfig(log_config)
    with domain_errors():
        # bootstrap() migrates the database to head, importing Alembic only if it is behind; each
        # worker's bootstrap then finds it at head and never loads Alembic (adapters.sql.schema_revision).
        app = state.app()
        if demo:
            added = load_demo(app.ctx.uow)
            log.info("demo data loaded (%d vehicle(s) added)", added)
    # The parent process serves nothing itself: release its connections before the workers open theirs.
    state.close()
    import uvicorn  # here, not at module level: only `serve` needs the server

    shared = share_metrics_between(workers, settings.data_dir)
    arenas_for_workers()  # glibc reads it as each worker starts: see entrypoints.http.malloc_arenas
    log.info("serving on http://%s:%d with %d worker(s)", host, port, workers)
    try:
        with main_script_not_rerun_by_workers():
            uvicorn.run(
                ASGI_FACTORY,
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level=settings.log_level.lower(),
                log_config=log_config,
                # Our own access line (request id, route, status, duration, actor) replaces uvicorn's.
                access_log=False,
                # The API serves no WebSocket: without this, every worker imports a WebSocket
                # implementation (wsproto and h11 here) it never uses.
                ws="none",
            )
    finally:
        if shared is not None:
            shutil.rmtree(shared, ignore_errors=True)


@contextmanager
def main_script_not_rerun_by_workers() -> Iterator[None]:
    """uvicorn starts its workers with multiprocessing's "spawn", which runs the parent's main
    script again in each one (``__mp_main__``) when that script has a file: the ``checkout``
    console script, so click and every CLI command module (~1 MB and 30 modules a worker never
    uses). A worker needs nothing from it: it imports the ASGI factory by name. While inside, the
    main module of a script run (no ``__spec__``) has no ``__file__``, which spawn then skips."""
    main = sys.modules["__main__"]
    hidden = main.__dict__.pop("__file__", None) if getattr(main, "__spec__", None) is None else None
    try:
        yield
    finally:
        if hidden is not None:
            main.__file__ = hidden


def share_metrics_between(workers: int, data_dir: Path) -> Path | None:
    """With several workers, each writes its metric samples to files that a scrape of any of them
    reads (``PROMETHEUS_MULTIPROC_DIR``): a directory of this server's own, so two servers on one
    data directory never mix or delete each other's samples. Returns it (removed when the server
    stops), or None when the caller set the variable or one worker needs none."""
    if workers < 2 or os.environ.get(MULTIPROC_VARIABLE):
        return None
    directory = data_dir.resolve() / "prometheus-multiproc" / f"serve-{os.getpid()}"
    if directory.exists():  # a previous server of the same pid: its samples would count
        shutil.rmtree(directory)
    directory.mkdir(mode=0o700, parents=True)
    os.environ[MULTIPROC_VARIABLE] = str(directory)
    return directory
