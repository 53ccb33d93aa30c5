"""The database's schema revision and the code's head revision, read without Alembic.

Alembic (with mako and pygments, which it imports) costs about 10 MB and 120 modules per
process. Only the process that migrates needs it: ``checkout db upgrade``, or the parent of
``checkout serve`` before it starts its workers. Every other process (API workers, job workers,
readiness probes, ``/version``) only asks "is the database at the code's head?", which is one
row of Alembic's version table and the ``revision``/``down_revision`` lines of the scripts.

Alembic's ``MigrationContext`` also logs two lines each time it is configured; a readiness probe
every few seconds would fill the log with them. Reading the row directly avoids that too."""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import Engine, inspect, text

from adapters.sql.engine import SQLITE_READ_ONLY

VERSION_TABLE = "alembic_version"  # Alembic's default; our env.py does not rename it

#: The migration scripts (``adapters/sql/migrations/versions``).
VERSIONS_DIR = Path(__file__).with_name("migrations") / "versions"


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


def _declared(script: Path) -> tuple[str, tuple[str, ...]] | None:
    """(``revision``, its ``down_revision`` parents) assigned at the top level of ``script``,
    or None for a file that declares no revision. Parsed, never imported: importing a script
    imports Alembic."""
    values: dict[str, object] = {}
    for node in ast.parse(script.read_text(encoding="utf-8"), str(script)).body:
        target: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            values[target.id] = ast.literal_eval(value)
    revision = values.get("revision")
    if not isinstance(revision, str):
        return None
    down = values.get("down_revision")
    if isinstance(down, str):
        return revision, (down,)
    if isinstance(down, tuple | list):  # a merge revision names several parents
        return revision, tuple(str(parent) for parent in down)
    return revision, ()


def head_revision(versions: Path = VERSIONS_DIR) -> str:
    """The newest revision the scripts in ``versions`` define (the one no script revises).

    The same answer as Alembic's ``ScriptDirectory.get_current_head()`` (a test compares them),
    for a linear history; several heads are an error, as they are for Alembic's upgrade."""
    declared = [d for d in (_declared(p) for p in sorted(versions.glob("*.py"))) if d is not None]
    revised = {parent for _, parents in declared for parent in parents}
    heads = sorted(revision for revision, _ in declared if revision not in revised)
    if len(heads) != 1:
        raise RuntimeError(f"expected one head revision in {versions}, found {heads or 'none'}")
    return heads[0]


def at_head(engine: Engine) -> bool:
    """Whether the database behind ``engine`` is at the code's head revision (nothing to migrate)."""
    return schema_revision(engine) == head_revision()
