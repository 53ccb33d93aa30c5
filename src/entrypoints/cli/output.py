"""How the CLI prints: human tables by default, JSON with ``--json``; errors to stderr with a
non-zero exit code that says what kind of failure it was. Also the plumbing of long jobs:
progress bars when a person is watching, and worker loops that stop cleanly on a signal."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from types import FrameType
from typing import Any, NoReturn, TypeVar

import click

from checkout_core.errors import DomainError, NotFound, ValidationFailed
from checkout_core.money import Money
from entrypoints.cli.worker_metrics import watched
from entrypoints.settings import SettingsError
from entrypoints.views import iso

_worker_log = logging.getLogger("checkout.worker")

#: Exit codes: 0 ok, 1 a check found problems (reconcile, verify), 2 bad usage or input,
#: 3 not found, 4 refused by a business rule (conflict, illegal step), 5 outside service failed.
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_RULE = 4
EXIT_UNAVAILABLE = 5

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts) instead of a table.")
limit_option = click.option(
    "--limit", type=click.IntRange(1, 1000), default=100, show_default=True, help="At most this many rows."
)
offset_option = click.option(
    "--offset", type=click.IntRange(0), default=0, show_default=True, help="Skip this many rows (paging)."
)

batch_size_option = click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Rows claimed per transaction (smaller batches hold row locks for less time).",
)
loop_option = click.option(
    "--loop", is_flag=True, help="Keep running: one pass every --interval seconds until stopped."
)
interval_option = click.option(
    "--interval",
    type=click.FloatRange(0.1, 86_400),
    default=60.0,
    show_default=True,
    help="Seconds between passes with --loop.",
)


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def emit_json_line(data: Any) -> None:
    """Print ``data`` as one line of JSON (JSON Lines: one record per pass of a worker loop)."""
    click.echo(json.dumps(data, sort_keys=False, default=str))


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> None:
    """Print a plain aligned table."""
    cells = [[str(c) for c in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


def fields(pairs: Sequence[tuple[str, object]]) -> None:
    """Print ``label: value`` lines with the values aligned (one record, read top to bottom)."""
    width = max((len(label) for label, _ in pairs), default=0)
    for label, value in pairs:
        click.echo(f"{label + ':':<{width + 1}} {'-' if value is None or value == '' else value}")


def heading(text: str) -> None:
    """A section title in a multi-part report."""
    click.echo("")
    click.echo(text)


def money(cents: int | Money | None) -> str:
    """``$24,999.00`` (``-`` when there is no amount)."""
    if cents is None:
        return "-"
    return (cents if isinstance(cents, Money) else Money(cents)).format()


def when(moment: datetime | None) -> str:
    """A moment as ISO 8601 UTC to the second, like the API prints it (``-`` when unset)."""
    return iso(moment) or "-"


def fail(message: str, code: int) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def exit_code_for(error: DomainError) -> int:
    """The exit code a domain error maps to."""
    if isinstance(error, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(error, ValidationFailed) or error.code in ("validation_error", "amount_mismatch"):
        return EXIT_USAGE
    if error.code in ("payment_gateway_unavailable",):
        return EXIT_UNAVAILABLE
    return EXIT_RULE


def database_outage_types() -> tuple[type[BaseException], ...]:
    """The database errors that mean "unavailable, retry later" (down, unreachable, locked).

    Looked up only when SQLAlchemy is already loaded: if it is not, no such error can have been
    raised, and commands that never touch the database (``quote``, ``--help``) do not pay the
    better part of a second it takes to import it."""
    exc = sys.modules.get("sqlalchemy.exc")
    return () if exc is None else (exc.OperationalError,)


@contextmanager
def domain_errors() -> Iterator[None]:
    """Turn domain, settings and database-outage errors into a message on stderr and a
    meaningful exit code."""
    try:
        yield
    except SettingsError as error:
        click.echo(f"error: {error}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    except DomainError as error:
        click.echo(f"error [{error.code}]: {error.message}", err=True)
        raise SystemExit(exit_code_for(error)) from None
    except database_outage_types() as error:
        # An outside service, and safe to retry: every use case runs in transactions that roll
        # back on failure. The driver's message (``orig``) is the readable part.
        click.echo(f"error [database_unavailable]: {getattr(error, 'orig', None) or error}", err=True)
        raise SystemExit(EXIT_UNAVAILABLE) from None


# -- long jobs ------------------------------------------------------------------------------


def interactive() -> bool:
    """Whether a person is watching (stderr is a terminal): only then are progress bars drawn."""
    return sys.stderr.isatty()


@contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for ``total`` items when interactive; yields ``advance(n)``.

    Off a terminal (pipes, cron, tests) it draws nothing, so stdout stays clean for scripts."""
    if total <= 0 or not interactive():
        yield lambda _n: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True) as bar:
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            # Another sweep may expire items we counted, or find new ones: never overshoot.
            step = max(0, min(n, total - done))
            done += step
            bar.update(step)

        yield advance


@contextmanager
def progress_callback(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr for a use case that reports ``on_progress(done, total)`` itself
    (the total is known only once it has read its input); yields that callback.

    Like :func:`progress`, it draws nothing when no one is watching, so stdout stays clean."""
    if not interactive():
        yield lambda _done, _total: None
        return
    bar: Any = None
    shown = 0

    def update(done: int, total: int) -> None:
        nonlocal bar, shown
        if total <= 0:
            return
        if bar is None:
            bar = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True)
            bar.__enter__()
        step = min(done, total) - shown
        if step > 0:
            bar.update(step)
            shown += step

    try:
        yield update
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


class StopRequest(threading.Event):
    """Set by a stop signal; ``signal_name`` says which one."""

    signal_name: str = ""


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Set the yielded event on SIGTERM or SIGINT, so a worker loop finishes the pass it is in
    (its transactions commit or roll back whole) and then stops. A second signal acts as usual."""
    stop = StopRequest()
    previous: dict[signal.Signals, Any] = {}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def handle(signum: int, _frame: FrameType | None) -> None:
        # No printing here: the handler may interrupt a write to stderr (a progress bar), and
        # buffered streams refuse re-entrant writes. The loop reports it once the pass is over.
        stop.signal_name = signal.Signals(signum).name
        stop.set()
        restore()

    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, handle)
    try:
        yield stop
    finally:
        restore()


def run_job(
    one_pass: Callable[[], Mapping[str, Any]],
    *,
    loop: bool,
    interval: float,
    report: Callable[[Mapping[str, Any]], None],
) -> None:
    """Run ``one_pass`` once, or (``loop``) every ``interval`` seconds until SIGTERM/SIGINT.

    In loop mode a pass that fails on the database or a domain rule is reported on stderr and
    retried at the next interval: a worker should ride out a database restart, not die of it.
    A single run lets the error through, so its exit code says what went wrong."""
    one_pass = watched(one_pass, loop=loop)  # heartbeat metrics, traces, the worker's port
    if not loop:
        with domain_errors():
            report(one_pass())
        return
    with stop_on_signals() as stop:
        while not stop.is_set():
            try:
                with domain_errors():
                    report(one_pass())
            except SystemExit as failed:
                # Through logging, so a worker's own lines come out in the service's one format (JSON to a shipper).
                _worker_log.warning("pass failed (exit code %s); retrying in %gs", failed.code, interval)
            stop.wait(interval)
        _worker_log.warning("received %s: stopped after the pass in progress", stop.signal_name)


def run_sweep(
    *,
    sweep: Callable[[], int],
    count_due: Callable[[], int],
    now: Callable[[], str],
    counting: Callable[[Callable[[int], None]], AbstractContextManager[object]],
    label: str,
    noun: str,
    verb: str,
    loop: bool,
    interval: float,
    as_json: bool,
) -> None:
    """A sweep job (expire holds, complete orders): once or in a loop, with a progress bar that
    advances as each batch commits, and one line (or JSON object) per pass."""

    def one_pass() -> Mapping[str, Any]:
        total = count_due() if interactive() and not as_json else 0
        with progress(total, label) as advance, counting(advance):
            done = sweep()
        return {verb: done, "at": now()}

    def report(result: Mapping[str, Any]) -> None:
        if as_json:
            (emit_json_line if loop else emit_json)(dict(result))
        else:
            click.echo(f"{result['at']}  {verb} {result[verb]} {noun}(s)")

    run_job(one_pass, loop=loop, interval=interval, report=report)
