"""Statements sent straight to psycopg: a SELECT's rows (or a write's ``RETURNING``) as dicts and
a write's row count, without SQLAlchemy's execution and result machinery.

Measured on the order view (a 53-column join) and on a checkout's statements (docs/operations.md,
"Where the API's CPU goes"): SQLAlchemy's execution context, its ``CursorResult`` and the
``cursor.description`` psycopg builds for it (a ``Column`` object per column, every time) cost
more than the statement's own round trip — 55 to 105 µs a statement here, a tenth of a read.

What is kept from SQLAlchemy is everything that decides *what* is sent: the statement is compiled
through the engine's own compiled cache (so the SQL text and its caching are SQLAlchemy's, with
the same cache key), its parameters go through ``construct_params`` and the types' bind
processors, and each result column through its type's result processor (``UtcDateTime`` gives
aware UTC datetimes, as on the SQLAlchemy path). The transaction stays SQLAlchemy's: the
connection's transaction is begun first (as SQLAlchemy's autobegin would), so ``commit`` and
``rollback`` see it. An error goes through SQLAlchemy's own handler, so it arrives wrapped
(``IntegrityError``, ``OperationalError`` …) and a dead connection is invalidated, exactly as
on the SQLAlchemy path.

What is not done here, and goes the SQLAlchemy way instead (:func:`execute` answers None):
several sets of parameters (executemany), "expanding" or literal-execute parameters (their SQL
changes with each call), Python-side column defaults (SQLAlchemy's execution context computes
them), positional dialects (SQLite), and any connection or engine with statement listeners
(``before_cursor_execute`` and the like) — the benchmark's statement counters are such listeners,
and must keep seeing every statement."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from sqlalchemy import Connection, Delete, Executable, Insert, Select, Update
from sqlalchemy.sql.compiler import SQLCompiler

#: Plans kept per compiled statement (by the compiled object's identity, which the plan holds
#: on to, so the identity cannot be reused while it is cached). Statements are built once per
#: shape (:mod:`adapters.sql.statements`), so a few hundred cover every read; past that the
#: cache starts again rather than growing.
_MAX_PLANS = 512


@attrs.frozen
class Plan:
    """How one compiled statement is sent and its rows read back."""

    compiled: SQLCompiler
    sql: str
    binds: Mapping[str, Callable[[Any], Any]]
    escaped: Mapping[str, str]
    keys: tuple[str, ...]
    results: tuple[tuple[int, Callable[[Any], Any]], ...]


#: id(compiled) → (compiled, its plan or None: "the SQLAlchemy way").
_plans: dict[int, tuple[SQLCompiler, Plan | None]] = {}
_plans_lock = threading.Lock()


def _plan_of(compiled: SQLCompiler, connection: Connection) -> Plan | None:
    found = _plans.get(id(compiled))
    if found is not None and found[0] is compiled:
        return found[1]
    made = _make_plan(compiled, connection)
    with _plans_lock:
        if len(_plans) >= _MAX_PLANS:
            _plans.clear()
        _plans[id(compiled)] = (compiled, made)
    return made


def _make_plan(compiled: SQLCompiler, connection: Connection) -> Plan | None:
    if (
        compiled.positional
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.schema_translate_map
        # Python-side column defaults are computed by SQLAlchemy's execution context: none here.
        or compiled.insert_prefetch
        or compiled.update_prefetch
    ):
        return None
    binds: dict[str, Callable[[Any], Any]] = {}
    for name, bind in compiled._bind_processors.items():
        if not callable(bind):  # a tuple type's processors, one per element: none here
            return None
        binds[name] = bind
    dialect = connection.dialect
    results: list[tuple[int, Callable[[Any], Any]]] = []
    for index, column in enumerate(compiled._result_columns):
        processor = column[3]._cached_result_processor(dialect, None)
        if processor is not None:
            results.append((index, processor))
    keys = tuple(column[0] for column in compiled._result_columns)
    if len(set(keys)) != len(keys):
        return None  # two columns of one name would collapse into one key of a row's dict
    return Plan(
        compiled=compiled,
        sql=compiled.string,
        binds=binds,
        escaped=dict(compiled.escaped_bind_names or {}),
        keys=keys,
        results=tuple(results),
    )


@attrs.frozen
class _Parameters:
    """How one statement object's parameters are made for one set of given keys, learnt from
    SQLAlchemy's ``construct_params`` at an earlier call: the compiled name each given key fills,
    and the values of the others (literals of the statement itself: the same on every call of
    that object, as SQLAlchemy's cache key extracts them from it)."""

    dialect: object
    plan: Plan
    filled: tuple[tuple[str, str], ...]
    fixed: Mapping[str, Any]


#: Statement object → (the given keys → how its parameters are made). The prebuilt statements
#: (adapters.sql.statements) are long-lived objects, sent with the same keys each time:
#: SQLAlchemy's compiled-cache lookup and ``construct_params`` (a loop over every bound parameter:
#: 53 in an order's combined writes) cost more than filling the names learnt once. Weakly keyed,
#: so a statement built for one call leaves nothing behind; learnt at its second call, so such a
#: statement costs nothing more either.
_parameters: weakref.WeakKeyDictionary[Executable, dict[tuple[str, ...], _Parameters]] = weakref.WeakKeyDictionary()


def _sent_before(
    statement: Executable, connection: Connection, given: Mapping[str, Any]
) -> tuple[Plan, dict[str, Any]] | None:
    """The plan and the parameters of a statement object sent before with the same keys."""
    by_keys = _parameters.get(statement)
    known = by_keys.get(tuple(given)) if by_keys else None
    if known is None or known.dialect is not connection.dialect:
        return None
    values = dict(known.fixed)
    for name, key in known.filled:
        values[name] = given[key]
    return known.plan, values


def _remember_parameters(
    statement: Executable, connection: Connection, given: Mapping[str, Any], plan: Plan, values: Mapping[str, Any]
) -> None:
    """Learn, from ``construct_params``' answer, how this statement's parameters are made — as
    ``construct_params`` makes them: a bound parameter takes the given value of its key, else of
    its name, else its own value. At a statement's second call (the first only marks it seen),
    and never for a parameter computed at each call (``callable_``). One dialect per statement
    and key set: another engine's replaces it."""
    by_keys = _parameters.get(statement)
    if by_keys is None:
        with _plans_lock:
            _parameters.setdefault(statement, {})
        return
    compiled = plan.compiled
    filled: list[tuple[str, str]] = []
    fixed: dict[str, Any] = {}
    for bind, name in compiled.bind_names.items():
        if bind.callable is not None:
            return
        if bind.key in given:
            filled.append((name, bind.key))
        elif name in given:
            filled.append((name, name))
        else:
            fixed[name] = values[name]
    by_keys[tuple(given)] = _Parameters(connection.dialect, plan, tuple(filled), fixed)


def _listened(connection: Connection) -> bool:
    """Whether anything listens to the statements SQLAlchemy sends (the connection's dispatch
    includes its engine's). ``begin`` and ``handle_error`` listeners still run here."""
    if not (connection._has_events or connection.engine._has_events):
        return False  # never listened to: the dispatch's collections cost more to look at
    d = connection.dispatch
    return bool(d.before_execute or d.after_execute or d.before_cursor_execute or d.after_cursor_execute)


@attrs.frozen
class Outcome:
    """What a statement sent here answered: its row count and its rows (a SELECT's, or those of
    ``RETURNING``), as dicts keyed like SQLAlchemy's ``RowMapping``."""

    rowcount: int
    rows: list[dict[str, Any]]

    def first(self) -> dict[str, Any] | None:
        """The first row, or None."""
        return self.rows[0] if self.rows else None

    def one(self) -> tuple[Any, ...]:
        """The values of the only row, in the statement's column order (as ``Result.one()``)."""
        if len(self.rows) != 1:
            raise ValueError(f"expected one row, got {len(self.rows)}")
        return tuple(self.rows[0].values())


def run(connection: Connection, statement: Executable, params: Any = None) -> Outcome:
    """Send ``statement``: straight to psycopg where :func:`execute` can, else through
    SQLAlchemy's ``Connection.execute`` — the same :class:`Outcome` either way."""
    outcome = execute(connection, statement, params)
    if outcome is not None:
        return outcome
    result = connection.execute(statement, params)
    found = [dict(row) for row in result.mappings().all()] if result.returns_rows else []
    return Outcome(int(result.rowcount), found)


def execute(connection: Connection, statement: Executable, params: Any) -> Outcome | None:
    """Send ``statement`` (a SELECT, or an INSERT, UPDATE or DELETE with one set of parameters)
    and return what it answered; None when it has to go the SQLAlchemy way (see the module
    docstring): nothing was sent then."""
    if params is not None and not isinstance(params, Mapping):
        return None  # several sets of parameters: executemany
    if not isinstance(statement, Select | Insert | Update | Delete):
        return None
    if connection.dialect.name != "postgresql" or _listened(connection):
        return None
    given = dict(params or {})
    values: Mapping[str, Any]
    found = _sent_before(statement, connection, given)
    if found is not None:
        plan, values = found
    else:
        compiled, extracted, collected, _ = statement._compile_w_cache(  # what Connection.execute does
            connection.dialect,
            compiled_cache=connection.engine._compiled_cache,
            column_keys=sorted(given),
            for_executemany=False,
            schema_translate_map=None,
        )
        if not isinstance(compiled, SQLCompiler):
            return None
        made = _plan_of(compiled, connection)
        if made is None:
            return None
        plan = made
        values = compiled.construct_params(
            given or None, escape_names=False, extracted_parameters=extracted, _collected_params=collected
        )
        _remember_parameters(statement, connection, given, plan, values)
    binds, escaped = plan.binds, plan.escaped
    if escaped:
        sent = {escaped.get(k, k): (binds[k](v) if k in binds else v) for k, v in values.items()}
    else:
        # The usual case: a copy in C, then only the typed parameters (a fifth of an order's
        # 90) through their processors.
        sent = dict(values)
        for name, process in binds.items():
            if name in sent:
                sent[name] = process(sent[name])
    if not connection.in_transaction():
        connection.begin()  # as SQLAlchemy's autobegin: commit and rollback must know of it
    driver = connection.connection.driver_connection
    if driver is None:
        return None
    cursor = None
    try:
        cursor = driver.cursor()  # inside: a connection psycopg knows is closed raises here
        cursor.execute(plan.sql, sent)
        fetched: Sequence[Sequence[Any]] = cursor.fetchall() if plan.keys and cursor.pgresult is not None else []
        count = cursor.rowcount
    except Exception as error:
        # SQLAlchemy's handler: wraps the error in its exception classes and invalidates a dead
        # connection (then ``connection_invalidated`` is set, as the unit of work expects).
        connection._handle_dbapi_exception(error, plan.sql, sent, cursor, None)
        raise  # not reached: the handler raises
    finally:
        if cursor is not None:
            cursor.close()
    keys, results = plan.keys, plan.results
    if not results:
        return Outcome(count, [dict(zip(keys, row, strict=True)) for row in fetched])
    out = []
    for row in fetched:
        record = dict(zip(keys, row, strict=True))
        for index, processor in results:
            record[keys[index]] = processor(row[index])
        out.append(record)
    return Outcome(count, out)
