"""The database's schema revision, read cheaply for readiness probes and ``/version``.

Alembic's ``MigrationContext`` logs two lines each time it is configured; a readiness probe
every few seconds would fill the log with them. Its version table is one row: read it directly."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

from adapters.sql.engine import SQLITE_READ_ONLY

VERSION_TABLE = "alembic_version"  # Alembic's default; our env.py does not rename it


def schema_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        connection.execution_options(**{SQLITE_READ_ONLY: True})
        if not inspect(connection).has_table(VERSION_TABLE):
            connection.rollback()
            return None
        revision = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()  # noqa: S608 - a constant
        connection.rollback()
        return None if revision is None else str(revision)
