"""How CLI commands get their :class:`~entrypoints.bootstrap.App`: built lazily, at most once per
invocation, by a factory kept on the click context (``ctx.obj``), and closed when the command ends.

Production uses ``bootstrap(load_settings())``. Tests put their own :class:`CliState` in
``ctx.obj`` (``CliRunner().invoke(cli, args, obj=CliState.using(app))``) to run commands against
an in-memory app, or ``CliState(load_settings=...)`` to run them on a temporary SQLite data
directory. Commands that need no App (``quote``, ``--help``) never build one."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import attrs
import click

from checkout_core.events import DomainEvent
from checkout_core.ports.unit_of_work import EventHandler
from checkout_core.usecases.context import Actor, Role
from entrypoints.bootstrap import App, bootstrap
from entrypoints.cli.data_dir_guard import require_embedded_store
from entrypoints.cli.output import EXIT_UNAVAILABLE, EXIT_USAGE, database_outage_types, fail
from entrypoints.settings import Settings, SettingsError, load_settings

#: Who the CLI acts as when neither ``--as`` nor ``CHECKOUT_ADVISOR_ID`` says.
DEFAULT_ADVISOR_ID = "adv_cli"

AppBuilder = Callable[[Settings, Sequence[EventHandler]], App]


class EventTap:
    """An after-commit event handler the CLI's App is built with, so a long job can follow its
    own progress as each batch commits (a sweep use case returns only when it is done)."""

    def __init__(self) -> None:
        self._listeners: list[EventHandler] = []

    def __call__(self, events: Sequence[DomainEvent]) -> None:
        for listener in list(self._listeners):
            listener(events)

    @contextmanager
    def counting(self, event_name: str, advance: Callable[[int], None]) -> Iterator[None]:
        """While inside, call ``advance(n)`` with the number of ``event_name`` events each commit carries."""

        def listener(events: Sequence[DomainEvent]) -> None:
            n = sum(1 for event in events if event.name == event_name)
            if n:
                advance(n)

        self._listeners.append(listener)
        try:
            yield
        finally:
            self._listeners.remove(listener)


def bootstrap_app(settings: Settings, handlers: Sequence[EventHandler]) -> App:
    """The production builder: the composition root, with the database brought up to date."""
    return bootstrap(settings, handlers=handlers)


@attrs.define
class CliState:
    """What one ``checkout`` invocation shares between the group and its commands."""

    load_settings: Callable[[], Settings] = load_settings
    build_app: AppBuilder = bootstrap_app
    #: Close the App when the command ends (False when the caller lent us an App it owns).
    owns_app: bool = True
    actor_id: str = DEFAULT_ADVISOR_ID
    tap: EventTap = attrs.Factory(EventTap)
    _settings: Settings | None = None
    _app: App | None = None

    @classmethod
    def using(cls, app: App) -> CliState:
        """Run commands against an App the caller built and will close (tests, embedding)."""
        return cls(load_settings=lambda: app.settings, build_app=lambda _settings, _handlers: app, owns_app=False)

    @property
    def actor(self) -> Actor:
        """The advisor the CLI acts as (``--as`` / ``CHECKOUT_ADVISOR_ID``)."""
        return Actor(self.actor_id, Role.ADVISOR)

    def settings(self) -> Settings:
        """The validated settings; a bad value stops here with a message naming the variable (exit 2)."""
        if self._settings is None:
            try:
                self._settings = self.load_settings()
            except SettingsError as error:
                fail(str(error), EXIT_USAGE)
        return self._settings

    def app(self) -> App:
        """The App, built on first use. A database that cannot be opened is exit 5."""
        if self._app is None:
            settings = self.settings()
            if self.build_app is bootstrap_app:  # the real embedded store, not a test's own App
                require_embedded_store(settings)
            try:
                self._app = self.build_app(settings, (self.tap,))
            except SettingsError as error:
                fail(str(error), EXIT_USAGE)
            except Exception as error:
                # Only now is SQLAlchemy surely loaded (bootstrap imports it), so only now can
                # its outage errors be recognised. The database or data directory is
                # unreachable: an outside service, not the advisor's input; exit 5 says retry later.
                if isinstance(error, (*database_outage_types(), OSError)):
                    fail(
                        f"cannot open the database or data directory: {getattr(error, 'orig', None) or error}",
                        EXIT_UNAVAILABLE,
                    )
                raise
        return self._app

    def close(self) -> None:
        """Close the App if this invocation built it (registered with ``ctx.call_on_close``)."""
        app, self._app = self._app, None
        if app is not None and self.owns_app:
            app.close()


pass_state = click.make_pass_decorator(CliState, ensure=True)
"""Decorator giving a command the invocation's :class:`CliState` (created with production
defaults when the caller did not provide one)."""
