"""The backlog gauges in SQL: five counting queries, each served by an index
(``ix_outbox_unpublished``, reservations ``(status, expires_at)``, ``ix_orders_awaiting_agreement``,
refunds and payments ``(status, created_at)``, refunds ``created_at``), in one read-only
transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, func, select

from adapters.sql import tables as t
from adapters.sql.engine import SQLITE_READ_ONLY
from checkout_core.model.payments import PaymentStatus, RefundStatus
from checkout_core.model.reservation import ACTIVE_STATUSES
from checkout_core.ports.backlog import Backlog

#: The window of ``recent_refunds``.
RECENT = timedelta(hours=24)


class SqlBacklog:
    """:class:`checkout_core.ports.backlog.BacklogReader` over the engine's pool."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def read(self, now: datetime, grace: timedelta) -> Backlog:
        """See :class:`checkout_core.ports.backlog.BacklogReader`."""
        before = now - grace
        with self._engine.connect() as connection:
            connection.execution_options(**{SQLITE_READ_ONLY: True})
            unpublished, oldest = connection.execute(
                select(func.count(), func.min(t.outbox.c.occurred_at)).where(t.outbox.c.published_at.is_(None))
            ).one()
            overdue = connection.execute(
                select(func.count()).where(
                    and_(
                        t.reservations.c.status.in_([str(s) for s in ACTIVE_STATUSES]),
                        t.reservations.c.expires_at < now,
                    )
                )
            ).scalar_one()
            agreements = connection.execute(
                select(func.count()).where(t.orders.c.awaits_agreement.is_(True))
            ).scalar_one()
            refunds = connection.execute(
                select(func.count()).where(
                    and_(t.refunds.c.status == str(RefundStatus.PENDING), t.refunds.c.created_at < before)
                )
            ).scalar_one()
            payments = connection.execute(
                select(func.count()).where(
                    and_(t.payments.c.status == str(PaymentStatus.PENDING), t.payments.c.created_at < before)
                )
            ).scalar_one()
            recent = connection.execute(
                select(t.refunds.c.status, func.count())
                .where(t.refunds.c.created_at >= now - RECENT)
                .group_by(t.refunds.c.status)
            ).all()
            connection.rollback()
        # min() keeps its column's type, so ``oldest`` comes back as an aware UTC datetime.
        oldest_at: datetime | None = oldest
        return Backlog(
            outbox_unpublished=int(unpublished),
            outbox_oldest_age_seconds=max(0.0, (now - oldest_at).total_seconds()) if oldest_at else 0.0,
            holds_overdue=int(overdue),
            agreements_waiting=int(agreements),
            refunds_pending_past_grace=int(refunds),
            payments_pending_past_grace=int(payments),
            recent_refunds=tuple(sorted((str(status), int(count)) for status, count in recent)),
        )
