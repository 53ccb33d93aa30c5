"""Idempotency-Key records in the database, riding in the request's own transactions.

The primary key ``(scope, key)`` is what makes a claim exclusive: of two concurrent requests
with the same key exactly one INSERT succeeds (the other waits for it on PostgreSQL, or for the
write lock on SQLite, then finds the row), so a duplicate can never run the work twice.

One request is one :class:`SqlCall` (``SqlIdempotencyStore.begin``), in the thread that runs the
use case. It opens a transaction and claims the key as its first statement; the use case's first
unit of work *adopts* that transaction instead of beginning its own, so the claim commits with
the use case's first writes. Until a transaction holding the claim commits, every new unit of
work of the request begins with the claim again (a use case whose first transaction failed and
rolled back the claim with it). The unit of work whose commit the use case marked final
(``UnitOfWork.mark_final``) does not COMMIT: it *parks* its transaction here, and
:meth:`SqlCall.finish` writes the answer into it and commits — the claim, the use case and the
stored answer in as few transactions as the use case has. (On PostgreSQL a final commit whose
writes were its transaction's only statement was sent outside any transaction; the connection
parked then holds none, and the answer is a statement of its own.) See docs/http-api.md,
"Idempotency"."""

from __future__ import annotations

import enum
import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar, Token
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Connection, Delete, Engine, Executable, Insert, Select, Update, bindparam, exc, insert, update

from adapters.sql import direct, mapping, tables, together
from adapters.sql import statements as sql
from adapters.sql.engine import is_disconnect
from adapters.sql.repositories import is_unique_violation, translate_db_errors
from checkout_core.ports.idempotency import IdempotencyRecord, KeyTaken, StoredAnswer, is_abandoned

log = logging.getLogger("checkout.idempotency")

_t = tables.idempotency_keys

#: A claim can vanish between our failed INSERT and the SELECT (its owner released it); then we
#: simply try again. More than a couple of rounds would mean a pathological release loop.
_CLAIM_ATTEMPTS = 5

#: DELETE an unfinished claim (a finished one has a status code and is kept for replays).
_RELEASE: Delete = sql.delete_where(_t, ("scope", "key")).where(_t.c.status_code.is_(None))

#: Store the answer of a claimed key.
_STORE: Update = sql.update_where(_t, ("status_code", "body", "content_type"), ("scope", "key")).execution_options(
    preserve_rowcount=True
)

_TAKE_OVER: Update = (
    update(_t)
    .where(
        _t.c.scope == bindparam("w_scope"),
        _t.c.key == bindparam("w_key"),
        _t.c.created_at == bindparam("w_created_at", type_=_t.c.created_at.type),
        _t.c.status_code.is_(None),
    )
    .values(created_at=bindparam("now", type_=_t.c.created_at.type))
    .execution_options(preserve_rowcount=True)
)

#: The claim as a data-modifying CTE that rides in another statement (:func:`with_claim`). A plain
#: INSERT, not ``ON CONFLICT DO NOTHING``: a key already there fails the whole statement with a
#: UNIQUE violation on this table, so the statement it rode in did nothing either.
_CLAIM_COLUMNS = ("scope", "key", "request_hash", "created_at", "status_code", "body", "content_type")
_CLAIM_CTE = (
    insert(_t)
    .values({name: bindparam(f"claim_{name}", type_=_t.c[name].type) for name in _CLAIM_COLUMNS})
    .cte("idempotency_claim")
)

#: Statement → the same statement with the claim riding in it (prebuilt statements are
#: long-lived objects: the combined one is built once, and direct.py's caches keep working).
_with_claim: weakref.WeakKeyDictionary[Executable, Executable] = weakref.WeakKeyDictionary()


def with_claim(statement: Executable) -> Executable | None:
    """``statement`` with the request's claim as a CTE of it (PostgreSQL: a data-modifying CTE
    runs whether or not the statement refers to it), or None for a statement that cannot carry
    one (text, DDL). Its rows are the statement's own; it takes the claim's parameters
    (:meth:`SqlCall.claim_params`); a SELECT carrying it is marked as one that writes."""
    if not isinstance(statement, Select | Insert | Update | Delete):
        return None
    found = _with_claim.get(statement)
    if found is None:
        combined: Executable = statement.add_cte(_CLAIM_CTE)
        if isinstance(combined, Select):
            combined = combined.execution_options(**{sql.LOCKS: True})
        _with_claim[statement] = found = combined
    return found


class KeyInUse(Exception):
    """A statement carrying the claim failed on the key's primary key: another request holds or
    answered the key (or holds it uncommitted, and committed first). Nothing of the statement
    happened; its transaction is aborted."""


def _key_in_use(error: exc.DBAPIError) -> bool:
    """Whether ``error`` is a UNIQUE violation on the idempotency keys (the claim's CTE)."""
    if not isinstance(error, exc.IntegrityError) or not is_unique_violation(error):
        return False
    diag = getattr(error.orig, "diag", None)
    return getattr(diag, "table_name", None) == _t.name


def run_with_claim(connection: Connection, statement: Executable, params: Mapping[str, Any]) -> direct.Outcome:
    """``direct.run`` of a statement carrying the claim (:func:`with_claim`): KeyInUse when the
    key is in use, every other error as it comes."""
    try:
        return direct.run(connection, statement, params)
    except exc.DBAPIError as error:
        if _key_in_use(error):
            raise KeyInUse() from error
        raise


#: Runs one statement of the claim's transaction (straight to psycopg where it can: adapters.sql.direct).
Execute = Callable[[Executable, Any], direct.Outcome]


def _claim_with(
    execute: Execute,
    dialect_name: str,
    *,
    scope: str,
    key: str,
    request_hash: str,
    now: datetime,
    answer: StoredAnswer | None = None,
) -> IdempotencyRecord | None:
    """Claim ``key`` with the statements of one open transaction: None if it is ours (with
    ``answer`` already stored when given), else the record that was there first."""
    row_values = {
        "scope": scope,
        "key": key,
        "request_hash": request_hash,
        "created_at": now,
        "status_code": answer.status_code if answer else None,
        "body": answer.body if answer else b"",
        "content_type": answer.content_type if answer else "application/json",
    }
    insert = sql.insert_or_skip(dialect_name, _t, ("scope", "key"))
    lookup = sql.select_where(dialect_name, _t, ("scope", "key"))
    for _ in range(_CLAIM_ATTEMPTS):
        if execute(insert, row_values).rowcount == 1:
            return None
        row = execute(lookup, sql.where_params(scope=scope, key=key)).first()
        if row is None:
            continue  # released meanwhile: claim again
        existing = mapping.from_row(row, IdempotencyRecord)
        if not is_abandoned(existing, request_hash, now):
            return existing
        # Take the abandoned claim over, if no other retry did first (the old created_at is
        # the condition: exactly one UPDATE can match it).
        taken = execute(_TAKE_OVER, {"now": now, "w_scope": scope, "w_key": key, "w_created_at": existing.created_at})
        if taken.rowcount == 1:
            if answer is not None:
                _store_with(execute, scope, key, answer)
            return None
    raise RuntimeError(f"could not claim idempotency key {key!r}: it keeps being claimed and released")


def _store_with(
    execute: Execute,
    scope: str,
    key: str,
    answer: StoredAnswer,
    outbox: Sequence[Mapping[str, Any]] = (),
    *,
    combine: bool = False,
) -> None:
    """Store the answer of a claimed key (KeyError if it is not claimed), after writing the
    ``outbox`` rows of the parked transaction: both in one statement with ``combine``
    (PostgreSQL's data-modifying CTEs; SQLite has none, and its statements cost no round trip)."""
    params = _store_params(scope, key, answer)
    if outbox and combine:
        statement, values = sql.combined([(sql.insert(tables.outbox), list(outbox)), (_STORE, params)])
        written, stored = (int(count) for count in execute(statement, values).one())
        if written != len(outbox):  # cannot happen (a plain INSERT), but never lose an event silently
            raise RuntimeError(f"{written} of {len(outbox)} outbox rows written")
    else:
        _write_outbox(execute, outbox)
        stored = execute(_STORE, params).rowcount
    if stored != 1:
        raise KeyError((scope, key))


def _write_outbox(execute: Execute, outbox: Sequence[Mapping[str, Any]]) -> None:
    if outbox:
        execute(sql.insert(tables.outbox), list(outbox))


def _write_together(
    connection: Connection, writes: Sequence[together.Waiting], outbox: Sequence[Mapping[str, Any]]
) -> None:
    """A parked transaction's writes and outbox rows, without an answer."""
    execute = _executor(connection)
    if writes:
        together.send(_one_row_of(execute), writes, outbox)
    else:
        _write_outbox(execute, outbox)


def _one_row_of(execute: Execute) -> together.Send:
    return lambda statement, params: execute(statement, params).one()


def _store_params(scope: str, key: str, answer: StoredAnswer) -> dict[str, Any]:
    return {
        "v_status_code": answer.status_code,
        "v_body": answer.body,
        "v_content_type": answer.content_type,
        **sql.where_params(scope=scope, key=key),
    }


def _stored_check(call: SqlCall) -> sql.ExpectedRows:
    """The answer's UPDATE must find the claim (KeyError, as :func:`_store_with`, if it is gone)."""
    scope, key = call.scope, call.key
    return sql.ExpectedRows(1, lambda: KeyError((scope, key)))


class _Claim(enum.Enum):
    """Where the request's claim is."""

    #: Not in the database (never made, or rolled back with its transaction).
    NONE = "none"
    #: Made in the transaction :class:`SqlCall` opened, waiting for the first unit of work.
    OPEN = "open"
    #: In a unit of work's open transaction.
    HELD = "held"
    #: Committed: the key is ours until the answer is stored or the claim released.
    COMMITTED = "committed"


#: The request the current thread runs, if it runs under an ``Idempotency-Key``.
_current: ContextVar[SqlCall | None] = ContextVar("checkout_sql_idempotent_call", default=None)


def current_call() -> SqlCall | None:
    """The :class:`SqlCall` of the request this thread runs (None outside one)."""
    return _current.get()


class SqlCall:
    """See :class:`checkout_core.ports.idempotency.IdempotentCall` and the module docstring.
    Not thread-safe: one per request, in the thread that runs it."""

    def __init__(
        self,
        engine: Engine,
        *,
        scope: str,
        key: str,
        request_hash: str,
        now: datetime,
        claim_with_first_statement: bool = False,
        answer_of: Callable[[object], StoredAnswer | None] | None = None,
    ) -> None:
        self._engine = engine
        self._answer_of = answer_of
        #: The answer :meth:`early_answer` made, and the one stored with the last commit's writes.
        self._early: StoredAnswer | None = None
        self._stored_early: StoredAnswer | None = None
        self.scope = scope
        self.key = key
        self.request_hash = request_hash
        self.now = now
        #: The claim is not sent by :meth:`start` but rides in the first statement of the first
        #: unit of work (:func:`with_claim`; PostgreSQL only).
        self._with_first_statement = claim_with_first_statement and engine.dialect.name == "postgresql"
        #: Whether a statement of this request ever claimed the key (see :meth:`earlier`).
        self._ever_claimed = False
        self._claim = _Claim.NONE
        self._connection: Connection | None = None
        #: The final transaction of a unit of work, its after-commit handlers and its outbox rows.
        self._parked: (
            tuple[Connection, Callable[[], None], Sequence[Mapping[str, Any]], tuple[together.Waiting, ...]] | None
        ) = None
        self._finished = False
        self._token: Token[SqlCall | None] | None = None
        self.existing: IdempotencyRecord | None = None

    # -- the request's side -----------------------------------------------------------------

    def start(self) -> None:
        """Open the first transaction with the claim in it (kept for the first unit of work),
        or learn who holds the key (:attr:`existing`); bind this call to the thread. A claim that
        rides in the first statement is not sent here: the first unit of work sends it."""
        if self._with_first_statement:
            self._token = _current.set(self)
            return
        execute = _FirstStatementRetried(self._engine, self._engine.connect())
        try:
            with translate_db_errors():
                existing = self.claim_in(execute)
        except BaseException:
            self._claim = _Claim.NONE
            self._close(execute.connection)
            raise
        connection = execute.connection
        if existing is not None:
            self.existing = existing
            self._close(connection)
            return
        self._connection = connection
        self._claim = _Claim.OPEN
        self._token = _current.set(self)

    def finish(self, answer: StoredAnswer | None) -> IdempotencyRecord | None:
        """See :meth:`checkout_core.ports.idempotency.IdempotentCall.finish`."""
        self._finished = True
        if self._parked is not None:
            self._commit_parked(answer)
            return None
        if self._claim is _Claim.OPEN:
            connection, self._connection = self._connection, None
            assert connection is not None
            try:
                if answer is not None:
                    # No unit of work ran: claim and answer in the one transaction.
                    with translate_db_errors():
                        _store_with(_executor(connection), self.scope, self.key, answer)
                    connection.commit()
            finally:
                self._claim = _Claim.NONE
                self._close(connection)
            return None
        if self._claim is _Claim.COMMITTED:
            self._in_own_transaction(answer)
            return None
        if answer is None:
            return None  # nothing of ours in the database
        # Every transaction that held the claim rolled back: claim and answer together now.
        with translate_db_errors(), self._engine.begin() as connection:
            return _claim_with(
                _executor(connection),
                connection.dialect.name,
                scope=self.scope,
                key=self.key,
                request_hash=self.request_hash,
                now=self.now,
                answer=answer,
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc_value: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._finished and self.existing is None:
                # Unfinished (the caller failed before an answer): commit what the use case
                # committed, forget the key.
                self.finish(None)
        finally:
            if self._connection is not None:
                self._close(self._connection)
                self._connection = None
            if self._token is not None:
                _current.reset(self._token)
                self._token = None

    # -- the units of work's side -----------------------------------------------------------

    def before_transaction(self) -> None:
        """A unit of work begins: a final transaction still parked was not the last after all
        (something followed the marked commit), so it commits now, without the answer."""
        if self._parked is not None:
            connection, after_commit, outbox, writes = self._parked
            self._parked = None
            try:
                with translate_db_errors():
                    _write_together(connection, writes, outbox)
                    connection.commit()
            except BaseException:
                self.claim_lost()  # if the claim was in it, it is gone with it
                raise
            finally:
                self._close(connection)
            self._claim = _Claim.COMMITTED
            after_commit()

    def take_connection(self) -> Connection | None:
        """The open transaction holding the claim, for the first unit of work to adopt."""
        if self._claim is not _Claim.OPEN:
            return None
        connection, self._connection = self._connection, None
        self._claim = _Claim.HELD
        return connection

    @property
    def open(self) -> bool:
        """Whether the request still runs (its answer is not stored yet): a final transaction
        may be parked with it."""
        return not self._finished and self._token is not None

    @property
    def needs_claim(self) -> bool:
        """Whether a new transaction must begin with the claim (no transaction holds it)."""
        return self._claim is _Claim.NONE and not self._finished

    def claim_in(self, execute: Execute) -> IdempotencyRecord | None:
        """Run the claim with ``execute`` (the first statements of a transaction)."""
        existing = _claim_with(
            execute,
            self._engine.dialect.name,
            scope=self.scope,
            key=self.key,
            request_hash=self.request_hash,
            now=self.now,
        )
        if existing is None:
            self._claim = _Claim.HELD
            self._ever_claimed = True
        return existing

    def claim_params(self) -> dict[str, Any]:
        """The parameters of the claim's CTE (:func:`with_claim`)."""
        values = {
            "scope": self.scope,
            "key": self.key,
            "request_hash": self.request_hash,
            "created_at": self.now,
            "status_code": None,
            "body": b"",
            "content_type": "application/json",
        }
        return {f"claim_{name}": value for name, value in values.items()}

    def claimed_with_statement(self) -> None:
        """A statement carrying the claim (:func:`with_claim`) succeeded in a unit of work's
        transaction: the claim is held there."""
        self._claim = _Claim.HELD
        self._ever_claimed = True

    def earlier(self) -> IdempotencyRecord | None:
        """See :meth:`checkout_core.ports.idempotency.IdempotentCall.earlier`."""
        if not self._with_first_statement or self._ever_claimed:
            return None
        with translate_db_errors(), self._engine.connect() as connection:
            lookup = sql.select_where(connection.dialect.name, _t, ("scope", "key"))
            row = _executor(connection)(lookup, sql.where_params(scope=self.scope, key=self.key)).first()
            connection.rollback()
        return None if row is None else mapping.from_row(row, IdempotencyRecord)

    def early_answer(self, outcome: object) -> together.Waiting | None:
        """The write that stores the answer ``outcome`` renders to (``mark_final(outcome=…)``),
        to go with the last commit's own writes; None if the request cannot render it, or it is
        not to be stored. Call :meth:`stored_early` once that statement succeeded."""
        if outcome is None or self._answer_of is None or self._finished:
            return None
        self._early = answer = self._answer_of(outcome)
        if answer is None:
            return None
        return together.Waiting(_STORE, _store_params(self.scope, self.key, answer), _stored_check(self), None)

    def stored_early(self) -> None:
        """:meth:`early_answer`'s write went: :meth:`finish` with the same answer stores nothing."""
        self._stored_early = self._early

    def claim_or_raise(self, execute: Execute) -> None:
        """:meth:`claim_in` for a unit of work: KeyTaken if another request has the key."""
        existing = self.claim_in(execute)
        if existing is not None:
            raise KeyTaken(existing)

    def claim_committed(self) -> None:
        """The transaction holding the claim committed."""
        self._claim = _Claim.COMMITTED

    def claim_lost(self) -> None:
        """The transaction holding the claim rolled back."""
        if self._claim is _Claim.HELD:
            self._claim = _Claim.NONE

    def park(
        self,
        connection: Connection,
        after_commit: Callable[[], None],
        *,
        holds_claim: bool,
        outbox: Sequence[Mapping[str, Any]] = (),
        writes: Sequence[together.Waiting] = (),
    ) -> None:
        """Keep a unit of work's final transaction open for :meth:`finish` to COMMIT, with the
        ``outbox`` rows it staged and the ``writes`` it left to its caller
        (``UnitOfWork.mark_final(errors_to_caller=True)``): written before the COMMIT, with the
        answer when there is one (on PostgreSQL, one statement)."""
        self.before_transaction()  # cannot happen (a unit of work began since), but never lose one
        self._parked = (connection, after_commit, outbox, tuple(writes))
        if holds_claim:
            self._claim = _Claim.HELD

    # -- helpers ------------------------------------------------------------------------------

    def _commit_parked(self, answer: StoredAnswer | None) -> None:
        assert self._parked is not None
        connection, after_commit, outbox, writes = self._parked
        self._parked = None
        committed_before = self._claim is _Claim.COMMITTED
        try:
            with translate_db_errors():
                execute = _executor(connection)
                if answer is not None and writes:
                    # The use case's last writes, their outbox rows and the answer: one statement.
                    stored = together.Waiting(
                        _STORE, _store_params(self.scope, self.key, answer), _stored_check(self), None
                    )
                    together.send(_one_row_of(execute), (*writes, stored), outbox)
                elif answer is not None and answer == self._stored_early and not outbox:
                    pass  # stored with the last commit's writes already
                elif answer is not None:
                    combine = connection.dialect.name == "postgresql"
                    _store_with(execute, self.scope, self.key, answer, outbox, combine=combine)
                else:
                    _write_together(connection, writes, outbox)
                    execute(_RELEASE, sql.where_params(scope=self.scope, key=self.key))
                connection.commit()
        except BaseException:
            self._claim = _Claim.COMMITTED if committed_before else _Claim.NONE
            self._close(connection)
            if committed_before:
                self._release_quietly()
            raise
        self._close(connection)
        self._claim = _Claim.COMMITTED if answer is not None else _Claim.NONE
        after_commit()

    def _in_own_transaction(self, answer: StoredAnswer | None) -> None:
        with translate_db_errors(), self._engine.begin() as connection:
            execute = _executor(connection)
            if answer is not None:
                _store_with(execute, self.scope, self.key, answer)
            else:
                execute(_RELEASE, sql.where_params(scope=self.scope, key=self.key))
        if answer is None:
            self._claim = _Claim.NONE

    def _release_quietly(self) -> None:
        try:
            self._in_own_transaction(None)
        except Exception:
            log.exception("could not release idempotency key for %s", self.scope)

    @staticmethod
    def _close(connection: Connection) -> None:
        try:
            connection.rollback()
        finally:
            connection.close()


def _executor(connection: Connection) -> Execute:
    def execute(statement: Executable, params: Any) -> direct.Outcome:
        return direct.run(connection, statement, params)

    return execute


class _FirstStatementRetried:
    """``connection.execute``, where the first statement is tried once more on a new connection
    if the pooled one turns out to be dead (the server restarted, a proxy cut it): nothing was
    written on it, its transaction is gone with it. Replaces the pool's pre-ping, which cost a
    round trip on every checkout."""

    def __init__(self, engine: Engine, connection: Connection) -> None:
        self._engine = engine
        self.connection = connection
        self._first = True

    def __call__(self, statement: Executable, params: Any) -> direct.Outcome:
        first, self._first = self._first, False
        try:
            return direct.run(self.connection, statement, params)
        except exc.DBAPIError as error:
            if not (first and is_disconnect(error)):
                raise
        self.connection.close()
        self.connection = self._engine.connect()
        return direct.run(self.connection, statement, params)


class SqlIdempotencyStore:
    """See :class:`checkout_core.ports.idempotency.IdempotencyStore`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def begin(
        self,
        *,
        scope: str,
        key: str,
        request_hash: str,
        now: datetime,
        claim_with_first_statement: bool = False,
        answer_of: Callable[[object], StoredAnswer | None] | None = None,
    ) -> SqlCall:
        """Claim ``key`` in a transaction the request's first unit of work adopts (see the
        module docstring), or, ``claim_with_first_statement`` on PostgreSQL, in that unit of
        work's first statement; the call is bound to this thread until it is closed."""
        call = SqlCall(
            self._engine,
            scope=scope,
            key=key,
            request_hash=request_hash,
            now=now,
            claim_with_first_statement=claim_with_first_statement,
            answer_of=answer_of,
        )
        call.start()
        return call

    def claim(self, *, scope: str, key: str, request_hash: str, now: datetime) -> IdempotencyRecord | None:
        """INSERT the claim in a transaction of its own; None if it is ours, else the record
        that was there first."""
        with translate_db_errors(), self._engine.begin() as connection:
            return _claim_with(
                _executor(connection),
                connection.dialect.name,
                scope=scope,
                key=key,
                request_hash=request_hash,
                now=now,
            )

    def complete(self, *, scope: str, key: str, status_code: int, body: bytes, content_type: str) -> None:
        """Store the response of a claimed key (KeyError if it was never claimed)."""
        with translate_db_errors(), self._engine.begin() as connection:
            _store_with(
                _executor(connection),
                scope,
                key,
                StoredAnswer(status_code=status_code, body=body, content_type=content_type),
            )

    def release(self, *, scope: str, key: str) -> None:
        """Delete an unfinished claim (a finished one is kept for replays)."""
        with translate_db_errors(), self._engine.begin() as connection:
            connection.execute(_RELEASE, sql.where_params(scope=scope, key=key))
