"""Which gateway (webhook) events were handled, in short transactions of their own.

The primary key on the event id makes a claim exclusive; an abandoned claim (its handler died)
can be taken over once its lease has run out."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from adapters.sql import tables
from adapters.sql.repositories import translate_db_errors
from adapters.sql.statements import dialect_insert
from checkout_core.ports.gateway_events import ProcessedEvent

_t = tables.processed_gateway_events


class SqlProcessedEvents:
    """See :class:`checkout_core.ports.gateway_events.ProcessedEventStore`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, event_id: str, event_type: str, now: datetime, lease: timedelta) -> bool:
        """Claim the event; False if it was handled or is being handled (lease not over)."""
        with translate_db_errors(), self._engine.begin() as connection:
            insert = (
                dialect_insert(connection.dialect.name, _t)
                .values(id=event_id, type=event_type, claimed_at=now, outcome=None, completed_at=None)
                .on_conflict_do_nothing(index_elements=[_t.c.id])
            )
            if connection.execute(insert).rowcount == 1:
                return True
            # Take over an abandoned claim: only if still unfinished and older than the lease.
            taken = connection.execute(
                _t.update()
                .where(_t.c.id == event_id, _t.c.outcome.is_(None), _t.c.claimed_at < now - lease)
                .values(claimed_at=now, type=event_type)
            )
            return taken.rowcount == 1

    def complete(self, event_id: str, outcome: str, now: datetime) -> None:
        """Record the outcome; later claims return False."""
        with translate_db_errors(), self._engine.begin() as connection:
            connection.execute(_t.update().where(_t.c.id == event_id).values(outcome=outcome, completed_at=now))

    def release(self, event_id: str) -> None:
        """Forget an unfinished claim so a redelivery is handled."""
        with translate_db_errors(), self._engine.begin() as connection:
            connection.execute(_t.delete().where(_t.c.id == event_id, _t.c.outcome.is_(None)))

    def get(self, event_id: str) -> ProcessedEvent | None:
        """The record, if any."""
        with translate_db_errors(), self._engine.connect() as connection:
            row = connection.execute(select(_t).where(_t.c.id == event_id)).mappings().first()
        if row is None:
            return None
        return ProcessedEvent(
            id=row["id"],
            type=row["type"],
            claimed_at=row["claimed_at"],
            outcome=row["outcome"],
            completed_at=row["completed_at"],
        )
