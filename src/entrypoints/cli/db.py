"""``checkout db upgrade``: bring the database schema to the newest Alembic revision.

This maintenance command talks to the migration tool of the SQL adapter directly (it builds its
own engine) instead of going through the App: it is about the schema itself, not a use case, and
it must work before anything else can. ``bootstrap()`` runs the same upgrade on start."""

from __future__ import annotations

import click

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
    from adapters.sql.engine import make_engine
    from adapters.sql.migrations import current_revision, upgrade_database

    settings = state.settings()
    url = settings.effective_database_url
    if settings.is_embedded_sqlite:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with domain_errors():
        engine = make_engine(url)
        try:
            before = current_revision(engine)
            upgrade_database(engine)
            after = current_revision(engine)
        finally:
            engine.dispose()
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
