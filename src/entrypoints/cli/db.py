"""``checkout db upgrade``: bring the database schema to the newest Alembic revision.

This maintenance command uses the migrations port on an engine of its own
(:func:`entrypoints.bootstrap.open_migrations`) instead of going through the App: it is about the
schema itself, not a use case, and it must work before anything else can. ``bootstrap()`` runs
the same upgrade on start."""

from __future__ import annotations

import click

from entrypoints.bootstrap import open_migrations
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.output import domain_errors, emit_json, fields, json_option


@click.group()
def db() -> None:
    """Database maintenance."""


def _display_url(url: str) -> str:
    """The database URL with any password masked (it may be printed to a shared terminal or log)."""
    from sqlalchemy.engine import make_url  # here: importing SQLAlchemy slows every other command

    return make_url(url).render_as_string(hide_password=True)


@db.command()
@json_option
@pass_state
def upgrade(state: CliState, as_json: bool) -> None:
    """Migrate the database (CHECKOUT_DATABASE_URL, or the embedded SQLite file) to the newest revision."""
    settings = state.settings()
    url = settings.effective_database_url
    with domain_errors(), open_migrations(settings) as migrations:
        before = migrations.current_revision()
        migrations.upgrade()
        after = migrations.current_revision()
    data = {"database": _display_url(url), "from": before, "to": after, "changed": before != after}
    if as_json:
        emit_json(data)
        return
    fields(
        [
            ("Database", data["database"]),
            ("Revision", after if before == after else f"{before or '(empty)'} -> {after}"),
            ("Result", "already up to date" if before == after else "upgraded"),
        ]
    )
