"""Schema migrations with Alembic, configured in code (no alembic.ini).

The scripts live in the ``migrations/`` directory beside this module (``env.py``,
``script.py.mako``, ``versions/``). That directory is deliberately not a Python package, so
``import adapters.sql.migrations`` finds this module.

``upgrade_database`` runs every pending migration in one transaction. On PostgreSQL it first
takes a transaction-scoped advisory lock, so several processes starting at once (server,
workers, CLI) migrate one after the other instead of racing to create the same tables; on
SQLite the ``BEGIN IMMEDIATE`` write lock does the same."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from adapters.sql.engine import SQLITE_READ_ONLY

#: The Alembic script directory (env.py, script.py.mako, versions/).
SCRIPT_LOCATION = Path(__file__).with_name("migrations")

#: Key of the PostgreSQL advisory lock held while migrating (any constant unique to this app).
_MIGRATION_LOCK_KEY = 7_420_251_223


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for our scripts; ``connection`` is what ``env.py`` migrates."""
    config = Config()
    # ConfigParser interpolation treats % specially; a path may contain one.
    config.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the scripts define."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {SCRIPT_LOCATION}")
    return head


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema up to ``revision`` (default: the newest). Idempotent."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        command.upgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        connection.execution_options(**{SQLITE_READ_ONLY: True})
        revision = MigrationContext.configure(connection).get_current_revision()
        connection.rollback()
        return revision


class SqlMigrations:
    """:class:`~checkout_core.ports.migrations.Migrations` of the database behind ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def current_revision(self) -> str | None:
        """See :meth:`checkout_core.ports.migrations.Migrations.current_revision`."""
        return current_revision(self._engine)

    def upgrade(self) -> None:
        """See :meth:`checkout_core.ports.migrations.Migrations.upgrade`."""
        upgrade_database(self._engine)
