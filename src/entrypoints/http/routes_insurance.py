"""``/api/v1/orders/{orderId}/insurance``: the buyer uploads a proof of insurance, an advisor
verifies or rejects it."""

from __future__ import annotations

from litestar import post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, MultipartBody

from checkout_core.usecases.context import Actor
from checkout_core.usecases.orders import reject_insurance, submit_insurance, verify_insurance
from entrypoints.bootstrap import App
from entrypoints.http.idempotency import OptionalIdempotencyKey
from entrypoints.http.order_routes import INSURANCE, ORDER, order_body, order_step
from entrypoints.http.problems import problem_responses
from entrypoints.http.schemas import (
    BODY_OPT,
    JSON_BODY,
    MULTIPART_BODY,
    InsuranceRejection,
    InsuranceSubmitted,
    InsuranceUpload,
    OrderBody,
)


@post(
    ORDER + "/insurance",
    status_code=201,
    sync_to_thread=True,
    tags=INSURANCE,
    summary="Upload proof of insurance",
    opt={BODY_OPT: MULTIPART_BODY},
    responses=problem_responses(401, 404, 409, 415, 422),
)
def upload_insurance(
    order_id: FromPath[str],
    data: MultipartBody[InsuranceUpload],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
) -> InsuranceSubmitted:
    """A PDF, JPEG or PNG (checked by content, not name) of at most 10 MB, with the policy
    number and provider. 415 for any other file type, 413 if too large."""
    try:
        content = data.file.file.read()
    finally:
        data.file.file.close()
    insurance = submit_insurance(
        checkout.ctx, actor, order_id, content=content, policy_number=data.policy_number, provider=data.provider
    )
    return InsuranceSubmitted(insurance_id=insurance.id, status=insurance.status, submitted_at=insurance.submitted_at)


verify = order_step(
    "/insurance/verify",
    verify_insurance,
    name="verify",
    summary="Verify the proof of insurance (advisor)",
    description="Advisor only: accept the proof; the order moves on.",
    tags=INSURANCE,
)


@post(
    ORDER + "/insurance/reject",
    status_code=200,
    sync_to_thread=True,
    tags=INSURANCE,
    summary="Reject the proof of insurance (advisor)",
    opt={BODY_OPT: JSON_BODY},
    responses=problem_responses(401, 403, 404, 409, 415, 422),
)
def reject(
    order_id: FromPath[str],
    data: JSONBody[InsuranceRejection],
    checkout: NamedDependency[App],
    actor: NamedDependency[Actor],
    idempotency_key: OptionalIdempotencyKey = None,
) -> OrderBody:
    """Advisor only: reject the proof with a reason; the buyer is asked for a new upload."""
    reject_insurance(checkout.ctx, actor, order_id, data.reason)
    return order_body(checkout, actor, order_id)


ROUTES = [upload_insurance, verify, reject]
