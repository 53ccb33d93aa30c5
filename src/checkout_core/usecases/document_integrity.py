"""What happens when a stored document of an order fails its integrity check on read.

Document stores re-hash what they read and raise
:class:`~checkout_core.errors.DocumentIntegrityError` when the bytes no longer match the
SHA-256 they were stored under (altered or damaged on disk). The use cases that read an
order's documents do so inside :func:`reporting_damage`, which

* records a ``DocumentIntegrityFailed`` event on the order (outbox, timeline, the relay's
  subscribers) — once per document and damage, however often it is asked for;
* logs one line at ERROR, without a traceback, for the operators who restore it from a backup;
* re-raises it as a ``DocumentIntegrityError`` whose message is for the client (no hashes, no
  storage key) — 500 ``document_integrity_failed`` over HTTP, never a generic 500.

Recording is its own short unit of work, opened after the caller's has closed (wrap the whole
use case when the read happens inside one), and a failure to record never hides the error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from checkout_core.errors import DocumentIntegrityError
from checkout_core.events import DocumentIntegrityFailed
from checkout_core.usecases.context import Context

log = logging.getLogger("checkout.documents")

EVENT = DocumentIntegrityFailed.__name__


@contextmanager
def reporting_damage(ctx: Context, order_id: str) -> Iterator[None]:
    """Around reads of ``order_id``'s stored documents: report one that fails its integrity
    check (see the module's docstring) and raise it as the client's
    :class:`~checkout_core.errors.DocumentIntegrityError`."""
    try:
        yield
    except DocumentIntegrityError as error:
        document_id = _report(ctx, order_id, error)
        which = f"document {document_id}" if document_id else "document"
        raise DocumentIntegrityError(
            f"The stored {which} failed its integrity check and cannot be served until it is restored. "
            "Your advisor has been notified; retrying will not help before then.",
            storage_key=error.storage_key,
            actual_sha256=error.actual_sha256,
            document_id=document_id,
        ) from None


def _report(ctx: Context, order_id: str, error: DocumentIntegrityError) -> str | None:
    """Record the event (unless this damage of this document already was) and log; the
    document's id, if the order holds the damaged key."""
    document_id: str | None = None
    try:
        with ctx.uow() as uow:
            order = uow.orders.get(order_id)
            record = None
            if order is not None:
                record = next((d for d in order.documents if d.storage_key == error.storage_key), None)
            if record is not None:
                document_id = record.id
                known = any(
                    event.name == EVENT
                    and event.payload.get("documentId") == record.id
                    and event.payload.get("actualSha256") == error.actual_sha256
                    for event in uow.outbox.for_aggregate(order_id)
                )
                if not known:
                    uow.emit(
                        DocumentIntegrityFailed(
                            occurred_at=ctx.clock.now(),
                            order_id=order_id,
                            document_id=record.id,
                            kind=record.kind.value,
                            expected_sha256=record.sha256,
                            actual_sha256=error.actual_sha256,
                        )
                    )
                    uow.commit()
    except Exception as failure:  # the damage is what the caller must hear about
        log.warning("could not record the integrity failure of order %s: %s", order_id, type(failure).__name__)
    log.error(
        "document %s of order %s failed its integrity check (stored under %s, its content now hashes to %s): "
        "restore it from a backup",
        document_id or "(unknown)",
        order_id,
        error.storage_key,
        error.actual_sha256,
    )
    return document_id
