"""Writes sent together as one PostgreSQL statement (``UnitOfWork.together``): what waits, and
how it is sent and checked — by the unit of work at its commit, or by the request that stores
its answer in the same statement (:mod:`adapters.sql.idempotency`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Insert, Select, Update, exc

from adapters.sql import statements as sql
from adapters.sql import tables
from adapters.sql.repositories import is_unique_violation
from checkout_core.errors import Conflict


class Waiting(NamedTuple):
    """A write held back by ``SqlUnitOfWork.together``: sent later, its ``check`` run on its row
    count then (``unique``: the Conflict a UNIQUE violation of its table becomes)."""

    statement: Insert | Update
    params: Mapping[str, Any]
    check: Callable[[int], None]
    unique: str | None

    @property
    def rows(self) -> int | None:
        """The row count its check expects, where the check says (:class:`statements.ExpectedRows`)."""
        return self.check.rows if isinstance(self.check, sql.ExpectedRows) else None


#: Sends one combined statement and answers its one row.
Send = Callable[[Select[Any], dict[str, Any]], Sequence[Any]]


def send(
    execute: Send, items: Sequence[Waiting], outbox: Sequence[Mapping[str, Any]] = (), *, guarded: bool = False
) -> None:
    """``items`` and the ``outbox`` rows as one statement (:func:`statements.combined`; with
    ``guarded``, every count checked inside it too), then each item's check in order. A UNIQUE
    violation becomes the Conflict of the item whose table it names."""
    writes: list[sql.Write] = [(w.statement, w.params) for w in items]
    expected = [w.rows for w in items]
    if outbox:
        writes.append((sql.insert(tables.outbox), list(outbox)))
        expected.append(len(outbox))
    counted = [n for n in expected if n is not None]
    if guarded and len(counted) != len(expected):
        raise ValueError("a guarded statement needs every write's row count")
    try:
        counts = execute(*sql.combined(writes, counted if guarded else None))
    except exc.IntegrityError as error:
        if not is_unique_violation(error):
            raise
        table = getattr(getattr(error.orig, "diag", None), "table_name", None)
        named = [w.unique for w in items if w.unique and getattr(w.statement.table, "name", None) == table]
        raise Conflict(named[0] if named else "a row written here exists already") from error
    for item, count in zip(items, counts, strict=False):
        item.check(int(count))
    if outbox and int(counts[len(items)]) != len(outbox):  # cannot happen (a plain INSERT)
        raise RuntimeError(f"{counts[len(items)]} of {len(outbox)} outbox rows written")


def may_go_alone(items: Sequence[Waiting]) -> bool:
    """Whether every item's check is a row count (so the statement can check them itself)."""
    return all(w.rows is not None for w in items)
