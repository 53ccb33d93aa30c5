"""Statements built once per shape (table, dialect, columns set or compared) and run with a
parameter dict: ``w_<column>`` binds WHERE comparisons, ``v_<column>`` SET values (why: see
"Prebuilt statements" in docs/persistence.md)."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import attrs
from sqlalchemy import (
    ColumnElement,
    Delete,
    Insert,
    Integer,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter

#: Execution option of a SELECT that is not a plain read: it takes a lock (an advisory one) or
#: writes through data-modifying CTEs (:func:`combined`), so it never goes outside a transaction
#: (a GET's reads do) and counts as the unit of work's write.
LOCKS = "checkout_locks"


def dialect_insert(dialect_name: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that knows ``ON CONFLICT`` (both dialects spell it the same way).

    ``preserve_rowcount``: SQLAlchemy only keeps the row count of UPDATE and DELETE by default,
    and ``ON CONFLICT DO NOTHING`` tells "inserted" from "skipped" by exactly that count."""
    if dialect_name == "postgresql":
        return postgresql.insert(table).execution_options(preserve_rowcount=True)
    if dialect_name == "sqlite":
        return sqlite.insert(table).execution_options(preserve_rowcount=True)
    raise ValueError(f"unsupported database dialect {dialect_name!r}")


def for_update(
    statement: Select[Any], dialect_name: str, *, skip_locked: bool = False, of: Table | None = None
) -> Select[Any]:
    """``SELECT … FOR UPDATE`` (``SKIP LOCKED``, ``OF`` a table) on PostgreSQL; unchanged on
    SQLite, where row locks mean nothing: a transaction already holds the database's write lock."""
    return statement.with_for_update(skip_locked=skip_locked, of=of) if dialect_name == "postgresql" else statement


def _equal(table: Table, columns: Iterable[str]) -> list[ColumnElement[bool]]:
    return [table.c[name] == bindparam(f"w_{name}") for name in columns]


@functools.cache
def insert(table: Table) -> Insert:
    """``INSERT INTO table (<the params' keys>) VALUES (…)``, with its row count kept."""
    return table.insert().execution_options(preserve_rowcount=True)


@functools.cache
def insert_or_skip(dialect_name: str, table: Table, conflict: tuple[str, ...]) -> Insert:
    """``INSERT … ON CONFLICT (conflict) DO NOTHING`` (row count 0 when skipped)."""
    return dialect_insert(dialect_name, table).on_conflict_do_nothing(index_elements=list(conflict))


@functools.cache
def select_where(
    dialect_name: str, table: Table, columns: tuple[str, ...], *, lock: bool = False, order_by: tuple[str, ...] = ()
) -> Select[Any]:
    """``SELECT * FROM table WHERE c1 = :w_c1 AND …`` (``FOR UPDATE`` on PostgreSQL with ``lock``:
    SQLite has no row locks, its transactions already hold the database's write lock)."""
    statement = select(table).where(*_equal(table, columns)).order_by(*(table.c[name] for name in order_by))
    return for_update(statement, dialect_name) if lock else statement


@functools.cache
def update_where(table: Table, values: tuple[str, ...], where: tuple[str, ...]) -> Update:
    """``UPDATE table SET v = :v_v, … WHERE w = :w_w AND …``."""
    return table.update().where(*_equal(table, where)).values({name: bindparam(f"v_{name}") for name in values})


@functools.cache
def delete_where(table: Table, where: tuple[str, ...]) -> Delete:
    """``DELETE FROM table WHERE w = :w_w AND …``."""
    return table.delete().where(*_equal(table, where))


def where_params(**values: Any) -> dict[str, Any]:
    """The WHERE parameters of a statement built here: ``{"w_<column>": value}``."""
    return {f"w_{name}": value for name, value in values.items()}


def set_params(row: Mapping[str, Any], *exclude: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The SET columns of ``row`` (minus ``exclude``) and their parameters, for :func:`update_where`."""
    columns = tuple(name for name in row if name not in exclude)
    return columns, {f"v_{name}": row[name] for name in columns}


def update_row(
    table: Table, row: Mapping[str, Any], where: Mapping[str, Any], *exclude: str
) -> tuple[Update, dict[str, Any]]:
    """The statement and parameters that write ``row`` (minus ``exclude``) where every column of
    ``where`` equals its value."""
    columns, params = set_params(row, *exclude)
    params.update(where_params(**where))
    return update_where(table, columns, tuple(where)), params


def update_rows(
    table: Table, rows: Sequence[Mapping[str, Any]], wheres: Sequence[Mapping[str, Any]]
) -> tuple[Update, list[dict[str, Any]]]:
    """One executemany UPDATE: ``rows[i]`` written where ``wheres[i]`` holds (the rows share their
    columns, the conditions theirs)."""
    statement, first = update_row(table, rows[0], wheres[0])
    params = [first, *(update_row(table, r, w)[1] for r, w in zip(rows[1:], wheres[1:], strict=True))]
    return statement, params


# -- several writes in one statement (PostgreSQL) --------------------------------------------------

#: One write of :func:`combined`: a prebuilt INSERT or UPDATE (see above) and its parameters — one
#: dict, or for an INSERT a list of dicts with the same keys (a multi-row INSERT).
Write = tuple[Insert | Update, Mapping[str, Any] | Sequence[Mapping[str, Any]]]


@attrs.frozen
class ExpectedRows:
    """The check of a write's row count: ``error()`` unless it wrote ``rows`` rows. Knowing the
    count, :func:`combined` can also check it inside the statement (its ``expected``)."""

    rows: int
    error: Callable[[], Exception]

    def __call__(self, count: int) -> None:
        if count != self.rows:
            raise self.error()


#: The SQLSTATE a statement of :func:`combined` fails with when a write's row count is not the
#: one expected (``division_by_zero``: plain SQL has no RAISE; nothing of ours divides).
GUARD_TRIPPED = "22012"


def combined(writes: Sequence[Write], expected: Sequence[int] | None = None) -> tuple[Select[Any], dict[str, Any]]:
    """One PostgreSQL statement running every write of ``writes`` (data-modifying CTEs with
    ``RETURNING 1``) that answers one row: each write's row count, in order; and its parameters.
    The writes share one snapshot and do not see each other's rows: never two UPDATEs of one table.

    The statement is built once per shape (the statements, their parameter names, the rows of an
    INSERT given several) and its parameters are renamed ``p<n>_<row>_<name>`` rather than bound
    into it: a statement made anew for each call, or a multi-row ``VALUES`` (which SQLAlchemy
    cannot cache), missed the compiled cache, and compiling cost 2–5 ms of CPU a checkout. So
    an INSERT of several rows is one single-row CTE per row (its count their sum).

    With ``expected`` (each write's row count, in order) the statement also fails, with
    SQLSTATE :data:`GUARD_TRIPPED`, unless every write wrote exactly that: a statement on its
    own is atomic, so sent outside a transaction it then writes nothing at all — one whose
    checks would have rolled back a transaction. Its answer has one more column (``guard``)."""
    shapes: list[tuple[Insert | Update, tuple[str, ...], int]] = []
    params: dict[str, Any] = {}
    for n, (statement, values) in enumerate(writes):
        rows = [values] if isinstance(values, Mapping) else list(values)
        shapes.append((statement, tuple(rows[0]), len(rows)))
        params.update({f"p{n}_{r}_{k}": v for r, row in enumerate(rows) for k, v in row.items()})
    return _combined_shape(tuple(shapes), None if expected is None else tuple(expected)), params


@functools.lru_cache(maxsize=256)
def _combined_shape(
    shapes: tuple[tuple[Insert | Update, tuple[str, ...], int], ...], expected: tuple[int, ...] | None
) -> Select[Any]:
    counts = []
    for n, (statement, names, rows) in enumerate(shapes):
        ctes = [
            _renamed(statement, names, f"p{n}_{r}_").returning(literal_column("1")).cte(f"w{n}_{r}")
            for r in range(rows)
        ]
        parts = [select(func.count()).select_from(c).scalar_subquery() for c in ctes]
        # Labelled: the counts are read back by name as well as by position (adapters.sql.direct).
        counts.append(functools.reduce(operator.add, parts).label(f"n{n}"))
    columns: list[ColumnElement[Any]] = list(counts)
    if expected is not None:
        if len(expected) != len(counts):
            raise ValueError(f"{len(expected)} expected counts for {len(counts)} writes")
        # 1 / 0 when a count is off: evaluated per row, never folded (the counts are the CTEs').
        met = and_(*(count.element == rows for count, rows in zip(counts, expected, strict=True)))
        columns.append(literal_column("1").op("/")(sql_cast(met, Integer)).label("guard"))
    return select(*columns).execution_options(**{LOCKS: True})


def _renamed(statement: Insert | Update, names: tuple[str, ...], prefix: str) -> Insert | Update:
    """``statement`` whose parameters ``names`` are ``<prefix><name>`` (an INSERT takes them as
    its VALUES; an UPDATE's named ones are renamed, typed as before)."""
    if isinstance(statement, Insert):
        columns = statement.table.c
        return statement.values({k: bindparam(prefix + k, type_=columns[k].type) for k in names})

    def replace(element: Any, **kw: Any) -> Any:
        if isinstance(element, BindParameter) and element.key in names:
            return bindparam(prefix + element.key, type_=element.type)
        return None

    # Typed for column expressions, but it copies any clause (the statement given is unchanged).
    traversable = cast(visitors.ExternallyTraversible, statement)
    return cast(Update, visitors.replacement_traverse(traversable, {}, replace))
