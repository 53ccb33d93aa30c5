"""Alembic environment: runs the migrations on the connection handed over by
:func:`adapters.sql.migrations.upgrade_database` (there is no alembic.ini and no URL here).

The caller has already begun the transaction (and, on PostgreSQL, taken an advisory lock), so
every migration of one upgrade commits or rolls back together."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "the checkout migrations run programmatically: call adapters.sql.migrations.upgrade_database(engine)"
    )

context.configure(
    connection=connection,
    # Hand-written migrations: no autogenerate target. tests/sql checks that the migrated
    # schema matches adapters.sql.tables.
    target_metadata=None,
    # SQLite only alters tables by copying them; migrations that need it use batch mode.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
