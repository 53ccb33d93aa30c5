"""``/api/v1/orders/{orderId}/documents``: start signing the agreement, list and download an
order's documents, and read its signing audit trail."""

from __future__ import annotations

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from checkout_core.usecases.context import Actor
from checkout_core.usecases.order_view import order_details
from checkout_core.usecases.orders import document_bytes, document_record, start_signing
from checkout_core.usecases.signing_audit import audit_entries
from entrypoints.bootstrap import App
from entrypoints.http.idempotency import OptionalIdempotencyKey
from entrypoints.http.order_routes import DOCUMENTS, ORDER
from entrypoints.http.problems import problem_responses
from entrypoints.http.schemas import (
    AuditTrail,
    DocumentList,
    SigningLink,
    audit_trail_to_body,
    documented_operation,
    order_to_body,
)

_EXTENSIONS = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}


@post(
    ORDER + "/documents/sign",
    status_code=200,
    sync_to_thread=True,
    tags=DOCUMENTS,
    summary="Start signing the purchase agreement",
    responses=problem_responses(401, 404, 409, 422, 502, 503),
)
def sign(
    order_id: FromPath[str],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
) -> SigningLink:
    """A signing link for the agreement (the same link while it is valid). 503 (retry later) or
    502 if a third-party signing provider is down or refuses."""
    envelope = start_signing(checkout.ctx, actor, order_id)
    return SigningLink(signature_url=envelope.signature_url, expires_at=envelope.expires_at)


@get(
    ORDER + "/documents",
    sync_to_thread=True,
    tags=DOCUMENTS,
    summary="List an order's documents",
    responses=problem_responses(401, 404),
)
def list_documents(
    order_id: FromPath[str], checkout: NamedDependency[App], actor: NamedDependency[Actor]
) -> DocumentList:
    """The agreement, its signed copy and insurance proofs, each with a download ``url``."""
    return DocumentList(items=order_to_body(order_details(checkout.ctx, actor, order_id)).documents)


@get(
    ORDER + "/documents/audit",
    sync_to_thread=True,
    tags=DOCUMENTS,
    summary="The signing audit trail",
    responses=problem_responses(401, 404),
)
def audit_trail(order_id: FromPath[str], checkout: NamedDependency[App], actor: NamedDependency[Actor]) -> AuditTrail:
    """Every signing event of the order, oldest first — created, sent, viewed, consented, signed,
    declined — with time, signer, e-mail, IP address, user agent and the agreement's SHA-256,
    each entry hash-chained to the previous one. For the order's owner and advisors."""
    entries = audit_entries(checkout.ctx, actor, order_id)
    return audit_trail_to_body(order_id, entries)


@get(
    ORDER + "/documents/{document_id:str}",
    sync_to_thread=True,
    tags=DOCUMENTS,
    summary="Download a document",
    media_type="application/pdf",
    operation_class=documented_operation(extra_media={200: ("image/jpeg", "image/png")}),
    responses=problem_responses(401, 404),
)
def download_document(
    order_id: FromPath[str], document_id: FromPath[str], checkout: NamedDependency[App], actor: NamedDependency[Actor]
) -> Response[bytes]:
    """The stored bytes (PDF, JPEG or PNG), for the order's owner and advisors only; with
    ``CHECKOUT_S3_PRESIGNED_SECONDS`` a 307 to a presigned bucket URL valid that long instead."""
    if checkout.document_link is not None:
        record = document_record(checkout.ctx, actor, order_id, document_id)
        filename = f"{record.id}{_EXTENSIONS.get(record.content_type, '')}"
        url = checkout.document_link(record.storage_key, filename, record.content_type)
        return Response(content=b"", status_code=307, headers={"Location": url, "Cache-Control": "private, no-store"})
    record, content = document_bytes(checkout.ctx, actor, order_id, document_id)
    return Response(
        content=content,
        media_type=record.content_type,
        headers={
            # Always a download, never rendered in our origin; the type is the one we sniffed.
            "Content-Disposition": f'attachment; filename="{record.id}{_EXTENSIONS.get(record.content_type, "")}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


ROUTES = [sign, list_documents, audit_trail, download_document]
