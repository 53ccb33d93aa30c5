"""Proof of insurance: the buyer's upload, the advisor's verification or rejection."""

from __future__ import annotations

from checkout_core.errors import InsuranceProofLimitReached, ValidationFailed
from checkout_core.model.order import DocumentKind, DocumentRecord, Insurance, InsuranceStatus, Order
from checkout_core.usecases.context import Actor, Context
from checkout_core.usecases.file_types import sniff_document_type
from checkout_core.usecases.orders.changes import _mutate
from checkout_core.usecases.orders.reading import load_order
from checkout_core.usecases.rate_limits import check_insurance_upload


def submit_insurance(
    ctx: Context, actor: Actor, order_id: str, *, content: bytes, policy_number: str, provider: str
) -> Insurance:
    """The buyer uploads proof of insurance (PDF, JPEG or PNG, checked by content and structure:
    images by their pixel dimensions, PDFs for active content; see ``file_types``). Rate
    limited per customer (TooManyAttempts), and an order keeps at most
    ``policy.max_insurance_proofs`` proofs (InsuranceProofLimitReached)."""
    check_insurance_upload(ctx, actor)
    policy_number = policy_number.strip()
    provider = provider.strip()
    if not policy_number or len(policy_number) > 64:
        raise ValidationFailed("policyNumber is required (at most 64 characters)", field="policyNumber")
    if not provider or len(provider) > 120:
        raise ValidationFailed("provider is required (at most 120 characters)", field="provider")
    content_type = sniff_document_type(
        content, max_bytes=ctx.policy.max_upload_bytes, max_pixels=ctx.policy.max_image_pixels
    )
    with ctx.uow() as uow:  # check access, status and the number of proofs before storing anything
        _check_proof_room(ctx, load_order(uow, actor, order_id))
    stored = ctx.documents.put(content, content_type)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        order = load_order(uow, actor, order_id, for_update=True)
        _check_proof_room(ctx, order)
        document = DocumentRecord(
            id=ctx.ids.new("doc"),
            kind=DocumentKind.INSURANCE_PROOF,
            storage_key=stored.key,
            sha256=stored.sha256,
            content_type=content_type,
            size=stored.size,
            created_at=now,
            status="submitted",
        )
        insurance = Insurance(
            id=ctx.ids.new("ins"),
            policy_number=policy_number,
            provider=provider,
            document_id=document.id,
            status=InsuranceStatus.PENDING_VERIFICATION,
            submitted_at=now,
        )
        order.submit_insurance(insurance, document, now)
        uow.orders.save(order)
        uow.commit()
    return insurance


def _check_proof_room(ctx: Context, order: Order) -> None:
    """InsuranceProofLimitReached when the order already holds the most proofs it may."""
    held = sum(1 for d in order.documents if d.kind is DocumentKind.INSURANCE_PROOF)
    if held >= ctx.policy.max_insurance_proofs:
        raise InsuranceProofLimitReached(
            f"this order already holds {held} proofs of insurance, the most it may; ask your advisor for help",
            limit=ctx.policy.max_insurance_proofs,
        )


def verify_insurance(ctx: Context, actor: Actor, order_id: str) -> Order:
    """An advisor accepts the proof of insurance; the order moves on."""
    actor.require_staff()
    return _mutate(ctx, actor, order_id, lambda order, now: order.verify_insurance(now))


def reject_insurance(ctx: Context, actor: Actor, order_id: str, reason: str) -> Order:
    """An advisor rejects the proof; the buyer is asked for a new upload."""
    actor.require_staff()
    return _mutate(ctx, actor, order_id, lambda order, now: order.reject_insurance(reason, now))
