"""Signing the purchase agreement: the envelope, the built-in signing page (view, sign, decline)
and the signed copy."""

from __future__ import annotations

from datetime import datetime

from checkout_core.errors import DomainError, IllegalTransition, NotFound, SigningNotAvailable, ValidationFailed
from checkout_core.model.audit import AuditAction
from checkout_core.model.order import DocumentKind, Order, OrderStatus, SigningEnvelope
from checkout_core.usecases.agreements import ensure_agreement
from checkout_core.usecases.context import SYSTEM, Actor, Context
from checkout_core.usecases.document_integrity import reporting_damage
from checkout_core.usecases.file_types import sniff_document_type
from checkout_core.usecases.orders.countersigning import buyer_evidence, signed_copy_record
from checkout_core.usecases.orders.reading import load_order
from checkout_core.usecases.rate_limits import check_signing_request
from checkout_core.usecases.signing_audit import append_audit


def start_signing(ctx: Context, actor: Actor, order_id: str) -> SigningEnvelope:
    """Open (or reuse, while it is valid) a signing envelope for the agreement. Rate limited
    per customer (TooManyAttempts): each new envelope is a call to the signing provider."""
    check_signing_request(ctx, actor)
    now = ctx.clock.now()
    # The unit of work is closed (rolled back) before a damaged agreement is reported.
    with reporting_damage(ctx, order_id), ctx.uow() as uow:
        order = load_order(uow, actor, order_id, for_update=True)
        if order.status is not OrderStatus.PENDING_DOCUMENTS:
            raise IllegalTransition(order.status.value, "sign_documents")
        if order.envelope is not None and order.envelope.status == "sent" and now < order.envelope.expires_at:
            return order.envelope
        agreement = ensure_agreement(ctx, uow, order, now)
        if agreement is None:
            raise SigningNotAvailable("the order has no purchase agreement to sign")
        envelope = ctx.signer.create_envelope(
            order_id=order.id,
            document=ctx.documents.get(agreement.storage_key),
            signer_name=order.contact.full_name,
            signer_email=order.contact.email,
            expires_at=(now + ctx.policy.signing_link_ttl).replace(microsecond=0),
        )
        record = SigningEnvelope(
            id=envelope.id,
            provider=envelope.provider,
            signature_url=envelope.signature_url,
            expires_at=envelope.expires_at,
        )
        order.start_signing(record, now)
        append_audit(uow, order, AuditAction.CREATED, now=now, envelope_id=record.id)
        append_audit(uow, order, AuditAction.SENT, now=now, envelope_id=record.id)
        uow.orders.save(order)
        uow.commit()
    return record


def _ensure_signable(order: Order | None, envelope_id: str, now: datetime) -> Order:
    """The order if ``envelope_id`` is its current, open, unexpired signing link."""
    if order is None or order.envelope is None or order.envelope.id != envelope_id:
        raise NotFound("signing link not found")
    if order.envelope.status == "declined":
        raise SigningNotAvailable("signing was declined on this link; ask for a new signing link")
    if order.envelope.status != "sent":
        raise SigningNotAvailable("this agreement is already signed")
    if now >= order.envelope.expires_at:
        raise SigningNotAvailable("this signing link has expired; ask for a new one")
    if order.document(DocumentKind.PURCHASE_AGREEMENT) is None:
        raise SigningNotAvailable("the order has no purchase agreement")
    return order


def signing_link_order(ctx: Context, order_id: str, envelope_id: str) -> Order:
    """The order behind a valid, open signing link (one read, no document I/O).

    The envelope id is the secret in the signing link, so this needs no other credential."""
    with ctx.uow() as uow:
        order = uow.orders.get(order_id)
    return _ensure_signable(order, envelope_id, ctx.clock.now())


def envelope_for_signing(ctx: Context, order_id: str, envelope_id: str) -> tuple[Order, bytes]:
    """The order and agreement bytes behind a valid, open envelope (the signing page shows them)."""
    order = signing_link_order(ctx, order_id, envelope_id)
    agreement = order.document(DocumentKind.PURCHASE_AGREEMENT)
    assert agreement is not None  # checked by _ensure_signable
    with reporting_damage(ctx, order.id):
        return order, ctx.documents.get(agreement.storage_key)


#: The largest drawn signature accepted (a PNG of a few strokes is a few kilobytes).
MAX_SIGNATURE_IMAGE_BYTES = 256 * 1024


def complete_signing(
    ctx: Context,
    *,
    order_id: str,
    envelope_id: str,
    typed_name: str,
    consent: bool,
    ip_address: str,
    user_agent: str,
    signature_image: bytes | None = None,
) -> Order:
    """The buyer signed through the built-in signing page: consent given, full name typed, and
    maybe a signature drawn on the page (a PNG, printed on the signature line instead of the
    typed name; ValidationFailed ``signatureImage`` for anything else)."""
    if not consent:
        raise ValidationFailed("consent to sign electronically is required", field="consent")
    if signature_image is not None:
        try:
            kind = sniff_document_type(signature_image, max_bytes=MAX_SIGNATURE_IMAGE_BYTES, max_pixels=4_000_000)
        except DomainError as exc:
            raise ValidationFailed(f"the drawn signature is not usable: {exc}", field="signatureImage") from None
        if kind != "image/png":
            raise ValidationFailed("the drawn signature must be a PNG image", field="signatureImage")
    order = signing_link_order(ctx, order_id, envelope_id)
    expected = " ".join(order.contact.full_name.split()).casefold()
    if " ".join(typed_name.split()).casefold() != expected:
        raise ValidationFailed("type your full name exactly as it appears on the agreement", field="typedName")
    return _finish_signing(
        ctx,
        order_id=order_id,
        envelope_id=envelope_id,
        ip_address=ip_address,
        user_agent=user_agent,
        signed_pdf=None,
        signed_at=ctx.clock.now(),
        signature_image=signature_image,
    )


def _finish_signing(
    ctx: Context,
    *,
    order_id: str,
    envelope_id: str,
    ip_address: str,
    user_agent: str,
    signed_pdf: bytes | None,
    signed_at: datetime,
    signature_image: bytes | None = None,
) -> Order:
    """Store the signed copy (the provider's, or our stamped and sealed one), record consent and
    signature in the audit trail and move the order on — once, whoever reports it first."""
    with ctx.uow() as uow:
        order = load_order(uow, SYSTEM, order_id)
    agreement = order.document(DocumentKind.PURCHASE_AGREEMENT)
    if agreement is None:
        raise SigningNotAvailable("the order has no purchase agreement")
    if signed_pdf is None:
        # Printed on the buyer's signature line, dated in the buyer's province.
        evidence = buyer_evidence(
            order, signed_at=signed_at, ip_address=ip_address, user_agent=user_agent, signature_image=signature_image
        )
        with reporting_damage(ctx, order.id):
            agreement_pdf = ctx.documents.get(agreement.storage_key)
        signed_pdf = ctx.signed_copies.make_signed_copy(agreement_pdf, evidence)
    # Kept beside the signed copy: the dealer's countersigned copy prints it on the buyer's line again.
    drawn_key = ctx.documents.put(signature_image, "image/png").key if signature_image is not None else None
    stored = ctx.documents.put(signed_pdf, "application/pdf")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        order = load_order(uow, SYSTEM, order_id, for_update=True)
        if order.envelope is None or order.envelope.id != envelope_id or order.envelope.status != "sent":
            raise SigningNotAvailable("this agreement is already signed")
        for action in (AuditAction.CONSENTED, AuditAction.SIGNED):
            append_audit(
                uow, order, action, now=now, envelope_id=envelope_id, ip_address=ip_address, user_agent=user_agent
            )
        order.sign_documents(
            signed_copy=signed_copy_record(
                ctx, stored, created_at=now, status="signed", signed_at=signed_at, signature_image_key=drawn_key
            ),
            signed_at=signed_at,
        )
        uow.orders.save(order)
        uow.commit()
    return order


def record_signing_view(ctx: Context, *, order_id: str, envelope_id: str, ip_address: str, user_agent: str) -> None:
    """The buyer opened the signing page: a ``viewed`` entry in the audit trail."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        order = _ensure_signable(uow.orders.get(order_id), envelope_id, now)  # valid, open, unexpired only
        append_audit(
            uow,
            order,
            AuditAction.VIEWED,
            now=now,
            envelope_id=envelope_id,
            ip_address=ip_address,
            user_agent=user_agent,
        )
        uow.commit()


def decline_signing(ctx: Context, *, order_id: str, envelope_id: str, ip_address: str, user_agent: str) -> Order:
    """The buyer declined to sign through the signing page (or the provider told us so)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        order = load_order(uow, SYSTEM, order_id, for_update=True)
        if order.envelope is None or order.envelope.id != envelope_id:
            raise NotFound("signing link not found")
        order.decline_signing(now)
        append_audit(
            uow,
            order,
            AuditAction.DECLINED,
            now=now,
            envelope_id=envelope_id,
            ip_address=ip_address,
            user_agent=user_agent,
        )
        uow.orders.save(order)
        uow.commit()
    return order


def decline_signing_link(ctx: Context, *, order_id: str, envelope_id: str, ip_address: str, user_agent: str) -> Order:
    """The buyer pressed "Decline" on the built-in signing page.

    Only a link that could still be signed can be declined (the signing page's own check: the
    order's current envelope, open and unexpired), so an expired, signed or replaced link changes
    nothing and its holder is told why. Asking for the signing link again then opens a new
    envelope."""
    signing_link_order(ctx, order_id, envelope_id)
    return decline_signing(
        ctx, order_id=order_id, envelope_id=envelope_id, ip_address=ip_address, user_agent=user_agent
    )
