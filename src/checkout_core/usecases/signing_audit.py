"""The signing audit trail (who did what to the agreement, when, from where) and the check
that an order's trail and stored documents are untouched."""

from __future__ import annotations

import hashlib
from datetime import datetime

import attrs

from checkout_core.errors import NotFound
from checkout_core.model.audit import AuditAction, AuditEntry, chain_problems
from checkout_core.model.order import DocumentKind, Order
from checkout_core.ports.documents import SealReport
from checkout_core.ports.unit_of_work import UnitOfWork
from checkout_core.usecases.context import Actor, Context


def append_audit(
    uow: UnitOfWork,
    order: Order,
    action: AuditAction,
    *,
    now: datetime,
    envelope_id: str,
    ip_address: str = "",
    user_agent: str = "",
    signer_email: str | None = None,
    signer_name: str | None = None,
) -> AuditEntry:
    """Add the next link of the order's chain, inside the caller's transaction."""
    entries = uow.audit.entries(order.id)
    agreement = order.document(DocumentKind.PURCHASE_AGREEMENT)
    entry = AuditEntry.after(
        entries[-1] if entries else None,
        order_id=order.id,
        action=action,
        occurred_at=now,
        envelope_id=envelope_id,
        signer_name=signer_name or order.contact.full_name,
        signer_email=signer_email or order.contact.email,
        ip_address=ip_address,
        user_agent=user_agent,
        document_sha256=agreement.sha256 if agreement else "",
    )
    uow.audit.append(entry)
    return entry


@attrs.frozen(kw_only=True)
class DocumentsVerification:
    """What ``checkout documents verify`` reports for one order."""

    order_id: str
    entries: int
    documents: int
    chain_problems: tuple[str, ...]
    document_problems: tuple[str, ...]
    #: The digital seal of each signed copy (document id, what its check says), timestamp included.
    seals: tuple[tuple[str, SealReport], ...] = ()

    @property
    def ok(self) -> bool:
        """True when the chain is intact and every stored document matches its recorded hash."""
        return not self.chain_problems and not self.document_problems


def audit_entries(ctx: Context, actor: Actor, order_id: str) -> list[AuditEntry]:
    """The order's signing audit trail (owner and advisors)."""
    with ctx.uow() as uow:
        order = uow.orders.get(order_id)
        if order is None or not actor.may_see(order.customer_id):
            raise NotFound(f"order {order_id} not found")
        return list(uow.audit.entries(order_id))


def verify_order_documents(ctx: Context, actor: Actor, order_id: str) -> DocumentsVerification:
    """Recompute the audit chain and every stored document's SHA-256."""
    actor.require_staff()
    with ctx.uow() as uow:
        order = uow.orders.get(order_id)
        if order is None:
            raise NotFound(f"order {order_id} not found")
        entries = list(uow.audit.entries(order_id))
    document_problems: list[str] = []
    seals: list[tuple[str, SealReport]] = []
    for record in order.documents:
        try:
            content = ctx.documents.get(record.storage_key)
        except Exception as error:
            document_problems.append(f"{record.kind.value} {record.id}: cannot be read back ({type(error).__name__})")
            continue
        actual = hashlib.sha256(content).hexdigest()
        if actual != record.sha256:
            document_problems.append(f"{record.kind.value} {record.id}: SHA-256 {actual} != recorded {record.sha256}")
        if record.kind is DocumentKind.SIGNED_AGREEMENT:
            seal = ctx.signed_copies.check_seal(content)
            seals.append((record.id, seal))
            if not seal.ok:
                document_problems.append(f"{record.kind.value} {record.id}: seal: {seal.problem or 'invalid'}")
    agreement = order.document(DocumentKind.PURCHASE_AGREEMENT)
    problems = chain_problems(entries)
    if agreement is not None:
        problems += [
            f"entry {e.sequence} ({e.action.value}): names document {e.document_sha256[:12]}…, "
            f"not the agreement {agreement.sha256[:12]}…"
            for e in entries
            if e.document_sha256 and e.document_sha256 != agreement.sha256
        ]
    return DocumentsVerification(
        order_id=order_id,
        entries=len(entries),
        documents=len(order.documents),
        chain_problems=tuple(problems),
        document_problems=tuple(document_problems),
        seals=tuple(seals),
    )
