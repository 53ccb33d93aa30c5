"""The dealer's countersignature: the agreement is executed only once both parties signed.

After the buyer signs, an advisor (or another authorised signatory of the dealer) countersigns:
the signed copy is made again from the agreement as the buyer was shown it, now with both
signatures on their lines (the buyer's, from the evidence recorded when they signed, and the
dealer's), sealed, and kept as the order's latest signed copy; the agreement's status becomes
``executed``, the audit trail records the countersignature and the timeline shows it
(``AgreementCountersigned``). The order's own status is not held up by it: insurance and payment
go on while the dealer countersigns.
"""

from __future__ import annotations

from datetime import datetime

from checkout_core.errors import IllegalTransition, NotFound, SigningNotAvailable
from checkout_core.model.audit import AuditAction
from checkout_core.model.local_day import PROVINCE_TIME_ZONES
from checkout_core.model.order import DocumentKind, DocumentRecord, Order
from checkout_core.model.parties import Advisor
from checkout_core.ports.documents import SignatureEvidence, StoredObject
from checkout_core.usecases.context import SYSTEM, Actor, Context, Role
from checkout_core.usecases.document_integrity import reporting_damage
from checkout_core.usecases.orders.reading import load_order
from checkout_core.usecases.signing_audit import append_audit

#: The title printed beside an advisor's countersignature.
ADVISOR_TITLE = "Sales advisor"


def order_time_zone(order: Order) -> str:
    """The IANA zone signatures on ``order``'s agreement are dated in (the buyer's province)."""
    return PROVINCE_TIME_ZONES.get(order.pricing.province, "UTC")


def buyer_evidence(
    order: Order,
    *,
    signed_at: datetime,
    ip_address: str = "",
    user_agent: str = "",
    signature_image: bytes | None = None,
) -> SignatureEvidence:
    """The buyer's signature as printed on their line and on the signature record."""
    return SignatureEvidence(
        signer_name=order.contact.full_name,
        signer_email=order.contact.email,
        signed_at=signed_at,
        ip_address=ip_address,
        user_agent=user_agent,
        role="buyer",
        time_zone=order_time_zone(order),
        signature_image=signature_image,
    )


def countersign_agreement(
    ctx: Context,
    actor: Actor,
    order_id: str,
    *,
    advisor_id: str | None = None,
    ip_address: str = "",
    user_agent: str = "",
) -> Order:
    """The dealer countersigns ``order_id``'s buyer-signed agreement (advisors only).

    The signatory is ``advisor_id``, else the calling advisor (when they are a known advisor),
    else the order's advisor. IllegalTransition (409) unless the buyer signed and the dealer has not yet;
    NotFound for an unknown order or advisor."""
    actor.require_staff()
    with ctx.uow() as uow:
        order = load_order(uow, actor, order_id)
        if advisor_id is not None:
            advisor = uow.advisors.get(advisor_id)
            if advisor is None:
                raise NotFound(f"advisor {advisor_id} not found")
        else:
            # The calling advisor when they have an advisor record; otherwise (an operator's
            # CLI identity, a system job) the order's own advisor signs for the dealer.
            advisor = uow.advisors.get(actor.id) if actor.role is Role.ADVISOR else None
            advisor = advisor or uow.advisors.get(order.advisor_id)
            if advisor is None:
                raise NotFound(f"advisor {order.advisor_id} of order {order.id} not found")
        signed = [e for e in uow.audit.entries(order.id) if e.action is AuditAction.SIGNED]
    agreement = _signed_agreement(order)
    assert agreement.signed_at is not None  # a signed agreement always records when
    last = signed[-1] if signed else None
    buyer_copy = order.document(DocumentKind.SIGNED_AGREEMENT)
    drawn_key = buyer_copy.signature_image_key if buyer_copy is not None else None
    with reporting_damage(ctx, order.id):
        drawn = ctx.documents.get(drawn_key) if drawn_key else None  # the buyer's drawn signature
    buyer = buyer_evidence(
        order,
        signed_at=agreement.signed_at,
        ip_address=last.ip_address if last else "",
        user_agent=last.user_agent if last else "",
        signature_image=drawn,
    )
    now = ctx.clock.now()
    dealer = dealer_evidence(order, advisor, signed_at=now, ip_address=ip_address, user_agent=user_agent)
    with reporting_damage(ctx, order.id):
        agreement_pdf = ctx.documents.get(agreement.storage_key)
    # Made from the agreement as shown to the buyer (its SHA-256 is in the audit trail), not by
    # editing the buyer's sealed copy: a seal cannot be reopened, so both are printed afresh.
    signed_pdf = ctx.signed_copies.make_signed_copy(agreement_pdf, buyer, dealer)
    stored = ctx.documents.put(signed_pdf, "application/pdf")
    with ctx.uow() as uow:
        order = load_order(uow, SYSTEM, order_id, for_update=True)
        _signed_agreement(order)  # checked again under the lock: one countersignature only
        append_audit(
            uow,
            order,
            AuditAction.COUNTERSIGNED,
            now=now,
            envelope_id=order.envelope.id if order.envelope else "",
            ip_address=ip_address,
            user_agent=user_agent,
            signer_email=advisor.email,
            signer_name=advisor.name,
        )
        order.countersign(
            advisor_id=advisor.id,
            signed_copy=signed_copy_record(
                ctx, stored, created_at=now, status="executed", signed_at=now, signature_image_key=drawn_key
            ),
            countersigned_at=now,
        )
        uow.orders.save(order)
        uow.commit()
    return order


def signed_copy_record(
    ctx: Context,
    stored: StoredObject,
    *,
    created_at: datetime,
    status: str,
    signed_at: datetime,
    signature_image_key: str | None = None,
) -> DocumentRecord:
    """The order's record of a signed copy just stored (``signed`` by the buyer, or ``executed``),
    with the storage key of the signature the buyer drew, if any."""
    return DocumentRecord(
        id=ctx.ids.new("doc"),
        kind=DocumentKind.SIGNED_AGREEMENT,
        storage_key=stored.key,
        sha256=stored.sha256,
        content_type="application/pdf",
        size=stored.size,
        created_at=created_at,
        status=status,
        signed_at=signed_at,
        signature_image_key=signature_image_key,
    )


def dealer_evidence(
    order: Order, advisor: Advisor, *, signed_at: datetime, ip_address: str = "", user_agent: str = ""
) -> SignatureEvidence:
    """The dealer's countersignature by ``advisor``, as printed on the dealer's line."""
    return SignatureEvidence(
        signer_name=advisor.name,
        signer_email=advisor.email,
        signed_at=signed_at,
        ip_address=ip_address,
        user_agent=user_agent,
        role="dealer",
        signer_title=ADVISOR_TITLE,
        time_zone=order_time_zone(order),
    )


def _signed_agreement(order: Order) -> DocumentRecord:
    agreement = order.document(DocumentKind.PURCHASE_AGREEMENT)
    if agreement is None:
        raise SigningNotAvailable("the order has no purchase agreement")
    if agreement.status == "executed":
        raise IllegalTransition("executed", "countersign")
    if agreement.status != "signed" or order.is_closed:
        raise IllegalTransition(order.status.value if order.is_closed else "awaiting_buyer_signature", "countersign")
    return agreement
