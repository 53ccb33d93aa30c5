"""Idempotency-Key records in the database, in short transactions of their own.

The primary key ``(scope, key)`` is what makes a claim exclusive: of two concurrent requests
with the same key exactly one INSERT succeeds (the other waits for it on PostgreSQL, or for the
write lock on SQLite, then finds the row), so a duplicate can never run the work twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Delete, Engine, Update, bindparam, update

from adapters.sql import mapping, tables
from adapters.sql import statements as sql
from adapters.sql.repositories import translate_db_errors
from checkout_core.ports.idempotency import IdempotencyRecord, is_abandoned

_t = tables.idempotency_keys

#: A claim can vanish between our failed INSERT and the SELECT (its owner released it); then we
#: simply try again. More than a couple of rounds would mean a pathological release loop.
_CLAIM_ATTEMPTS = 5

#: DELETE an unfinished claim (a finished one has a status code and is kept for replays).
_RELEASE: Delete = sql.delete_where(_t, ("scope", "key")).where(_t.c.status_code.is_(None))

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


class SqlIdempotencyStore:
    """See :class:`checkout_core.ports.idempotency.IdempotencyStore`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, *, scope: str, key: str, request_hash: str, now: datetime) -> IdempotencyRecord | None:
        """INSERT the claim; None if it is ours, else the record that was there first."""
        for _ in range(_CLAIM_ATTEMPTS):
            with translate_db_errors(), self._engine.begin() as connection:
                claim = {
                    "scope": scope,
                    "key": key,
                    "request_hash": request_hash,
                    "created_at": now,
                    "status_code": None,
                    "body": b"",
                    "content_type": "application/json",
                }
                insert = sql.insert_or_skip(connection.dialect.name, _t, ("scope", "key"))
                if connection.execute(insert, claim).rowcount == 1:
                    return None
                lookup = sql.select_where(connection.dialect.name, _t, ("scope", "key"))
                row = connection.execute(lookup, sql.where_params(scope=scope, key=key)).mappings().first()
                if row is None:
                    continue  # released meanwhile: claim again
                existing = mapping.from_row(row, IdempotencyRecord)
                if not is_abandoned(existing, request_hash, now):
                    return existing
                # Take the abandoned claim over, if no other retry did first (the old
                # created_at is the condition: exactly one UPDATE can match it).
                taken = connection.execute(
                    _TAKE_OVER, {"now": now, "w_scope": scope, "w_key": key, "w_created_at": existing.created_at}
                )
                if taken.rowcount == 1:
                    return None
        raise RuntimeError(f"could not claim idempotency key {key!r}: it keeps being claimed and released")

    def complete(self, *, scope: str, key: str, status_code: int, body: bytes, content_type: str) -> None:
        """Store the response of a claimed key (KeyError if it was never claimed)."""
        with translate_db_errors(), self._engine.begin() as connection:
            statement, params = sql.update_row(
                _t,
                {"status_code": status_code, "body": body, "content_type": content_type},
                {"scope": scope, "key": key},
            )
            result = connection.execute(statement, params)
        if result.rowcount != 1:
            raise KeyError((scope, key))

    def release(self, *, scope: str, key: str) -> None:
        """Delete an unfinished claim (a finished one is kept for replays)."""
        with translate_db_errors(), self._engine.begin() as connection:
            connection.execute(_RELEASE, sql.where_params(scope=scope, key=key))
