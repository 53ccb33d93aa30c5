"""``checkout events relay``: publish the transactional outbox to NATS JetStream, at least once
(a batch is marked published only once JetStream acknowledged all of it; ``Nats-Msg-Id`` lets it
drop repeats). ``--loop`` repeats the pass; several relays may run at once. The stream and subject
prefix are options, not settings, because only this command reads them. See docs/cli.md."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import click

from checkout_core.ports.events import EventPublisher
from checkout_core.usecases.event_relay import relay_all
from entrypoints.bootstrap import event_publisher
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.output import (
    EXIT_UNAVAILABLE,
    batch_size_option,
    emit_json,
    emit_json_line,
    interval_option,
    json_option,
    loop_option,
    run_job,
)
from entrypoints.views import iso

DEFAULT_STREAM = "CHECKOUT_EVENTS"
DEFAULT_SUBJECT_PREFIX = "checkout.events"

# JetStream refuses stream names with whitespace, dots, wildcards or path separators.
_STREAM_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A subject prefix is one or more dot-separated tokens without wildcards or whitespace; the
# relay appends ``.<EventName>`` and the stream listens on ``<prefix>.>``.
_SUBJECT_PREFIX = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


def _check_stream(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not _STREAM_NAME.match(value):
        raise click.BadParameter("must be 1 to 64 letters, digits, '_' or '-'")
    return value


def _check_prefix(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if len(value) > 200 or not _SUBJECT_PREFIX.match(value):
        raise click.BadParameter("must be dot-separated tokens of letters, digits, '_' or '-' (no wildcards)")
    return value


@contextmanager
def broker_errors(url: str) -> Iterator[None]:
    """An unreachable or failing broker is an outside service being unavailable: a message on
    stderr and exit code 5 (in ``--loop`` mode the pass is retried at the next interval).

    The batch being published stays unmarked (its transaction rolls back), so nothing is lost."""
    import nats.errors  # loaded with the publisher anyway; imported here so --help stays fast

    try:
        yield
    except (nats.errors.Error, OSError) as error:
        # nats-py's TimeoutError is an OSError too; both mean "retry later".
        click.echo(f"error [broker_unavailable]: NATS at {url}: {type(error).__name__}: {error}", err=True)
        raise SystemExit(EXIT_UNAVAILABLE) from None


@click.group()
def events() -> None:
    """Domain events: publish the outbox to the message broker."""


@events.command("relay")
@loop_option
@interval_option
@batch_size_option
@click.option(
    "--stream",
    envvar="CHECKOUT_NATS_STREAM",
    default=DEFAULT_STREAM,
    show_default=True,
    callback=_check_stream,
    help="JetStream stream (created on first use if missing) (env CHECKOUT_NATS_STREAM).",
)
@click.option(
    "--subject-prefix",
    envvar="CHECKOUT_NATS_SUBJECT_PREFIX",
    default=DEFAULT_SUBJECT_PREFIX,
    show_default=True,
    callback=_check_prefix,
    help="Events go to <prefix>.<EventName> (env CHECKOUT_NATS_SUBJECT_PREFIX).",
)
@json_option
@pass_state
def relay(
    state: CliState,
    loop: bool,
    interval: float,
    batch_size: int,
    stream: str,
    subject_prefix: str,
    as_json: bool,
) -> None:
    """Publish unpublished outbox events to NATS JetStream (CHECKOUT_NATS_URL), at least once.

    Each message carries the event id (header Nats-Msg-Id) so duplicates can be dropped. Safe to
    run in several copies. With --loop it runs until SIGTERM or SIGINT, finishing the pass in
    progress (a batch is marked published only once the broker has stored all of it)."""
    app = state.app()
    url = app.settings.nats_url
    # (publisher, closer), built on the first pass (inside broker_errors), not with the App:
    # only this command talks to the broker.
    broker: tuple[EventPublisher, Callable[[], None]] | None = None

    def one_pass() -> Mapping[str, Any]:
        nonlocal broker
        with broker_errors(url):
            if broker is None:
                broker = event_publisher(app.settings, stream=stream, subject_prefix=subject_prefix)
            published = relay_all(app.ctx, broker[0], batch_size=batch_size)
        return {"published": published, "at": iso(app.ctx.clock.now())}

    def report(result: Mapping[str, Any]) -> None:
        if as_json:
            (emit_json_line if loop else emit_json)(dict(result))
        else:
            click.echo(f"{result['at']}  published {result['published']} event(s)")

    try:
        run_job(one_pass, loop=loop, interval=interval, report=report)
    finally:
        if broker is not None:
            _close_quietly(broker[1])


def _close_quietly(close: Callable[[], None]) -> None:
    """Drain the connection; a broker that went away meanwhile must not turn a clean stop into
    a crash (everything acknowledged is already marked published)."""
    import nats.errors

    try:
        close()
    except (nats.errors.Error, OSError, RuntimeError) as error:
        click.echo(f"warning: closing the NATS connection failed: {error}", err=True)
