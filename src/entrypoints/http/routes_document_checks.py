"""``GET /api/v1/orders/{orderId}/documents/verification``: the API's tamper check of an order's
signing audit trail and stored documents, and of each signed copy's digital seal with its
RFC 3161 timestamp — what ``checkout documents verify --json`` prints, for advisors."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath

from checkout_core.usecases.context import Actor
from checkout_core.usecases.signing_audit import verify_order_documents
from entrypoints.bootstrap import App
from entrypoints.http.order_routes import DOCUMENTS, ORDER
from entrypoints.http.problems import problem_responses
from entrypoints.views import verification_to_dict


@get(
    ORDER + "/documents/verification",
    sync_to_thread=True,
    tags=DOCUMENTS,
    summary="Check the audit trail, the documents and the signed copy's seal",
    responses=problem_responses(401, 403, 404),
)
def verification(
    order_id: FromPath[str], checkout: NamedDependency[App], actor: NamedDependency[Actor]
) -> dict[str, Any]:
    """Advisors only. ``ok`` is false when an audit entry was edited, removed or reordered, a
    stored document no longer matches its SHA-256, or a signed copy's seal is broken. ``seals``
    gives each signed copy's PAdES level (``PAdES B-B``, ``B-T``, ``B-LT``; ``none`` for a copy
    we did not seal) and its timestamp: the time-stamping authority's time, its name, and
    whether it chains to ``CHECKOUT_TSA_TRUST_FILE``."""
    return verification_to_dict(verify_order_documents(checkout.ctx, actor, order_id))


ROUTES = [verification]
