"""Provider webhooks: ``POST /api/v1/webhooks/stripe`` and ``POST /api/v1/webhooks/signing``.
No bearer token and no ``Idempotency-Key``: the provider's signature over the raw body is checked
before anything else, and the status code tells the provider whether to deliver again. See
docs/http-api.md, "Provider webhooks"."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import HeaderParameter

from checkout_core.errors import SigningNotAvailable
from checkout_core.ports.gateway_events import GatewayEventRejected
from checkout_core.usecases.orders import apply_signing_callback
from checkout_core.usecases.payment_events import handle_gateway_event
from checkout_core.usecases.rate_limits import Limit, ensure_open, note_failure
from entrypoints.bootstrap import App
from entrypoints.http.auth import client_address
from entrypoints.http.card_guard import CARD_GUARD_OPT, PROVIDER_SIGNED
from entrypoints.http.idempotency import EXEMPT, IDEMPOTENCY_OPT
from entrypoints.http.problems import HttpProblem, problem_responses
from entrypoints.http.schemas import WebhookReceived
from entrypoints.observability.metrics import count_webhook

log = logging.getLogger("checkout.http.webhooks")

#: What Dropbox Sign requires as the body of a callback's answer. Spelled here rather than
#: imported from the adapter so this module does not load the provider SDK (~27 MB) in every
#: worker; a test checks it equals ``adapters.signing.dropbox_sign.CALLBACK_ACKNOWLEDGEMENT``.
CALLBACK_ACKNOWLEDGEMENT = "Hello API Event Received"

TAGS = ["webhooks"]
PATH = "/webhooks"

#: Route options shared by the webhooks: no idempotency layer, no card scan of the body.
_OPT = {IDEMPOTENCY_OPT: EXEMPT, CARD_GUARD_OPT: PROVIDER_SIGNED}

#: What a provider event whose signature does not verify is answered (stable API).
REJECTED = "webhook_rejected"
#: Stripe events arrive but no endpoint secret is configured to verify them.
NOT_CONFIGURED = "webhooks_not_configured"
#: An event that must wait (the API call it belongs to is still in flight); Stripe redelivers.
DEFERRED = "webhook_deferred"


def _refuse_flooding_address(checkout: App, request: Request[Any, Any, Any]) -> None:
    """429 while the caller's address is past its limit of deliveries that did not verify."""
    ensure_open(checkout.ctx, Limit.BAD_WEBHOOKS_PER_IP, client_address(request.scope))


def _count_rejected(checkout: App, request: Request[Any, Any, Any]) -> None:
    """Count a delivery that did not verify (429 instead of 400 once over the limit)."""
    note_failure(checkout.ctx, Limit.BAD_WEBHOOKS_PER_IP, client_address(request.scope))


async def raw_body(request: Request[Any, Any, Any]) -> bytes:
    """Dependency ``raw_body``: the request body exactly as received (signatures cover the bytes)."""
    return await request.body()


def _raw_body_operation(content: dict[str, Schema], description: str) -> type[Operation]:
    """An ``operation_class`` documenting the body the handler reads raw (Litestar only documents
    bodies it decodes itself)."""

    @dataclass
    class RawBodyOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                content={media_type: OpenAPIMediaType(schema=schema) for media_type, schema in content.items()},
                description=description,
                required=True,
            )

    return RawBodyOperation


_ANY_OBJECT = Schema(type=OpenAPIType.OBJECT)

StripeSignature = Annotated[
    str | None,
    HeaderParameter(
        name="Stripe-Signature",
        required=False,
        max_length=2000,
        description='`t=<unix time>,v1=<HMAC-SHA256 of "<t>.<body>" with the endpoint secret>`.',
    ),
]


@post(
    "/stripe",
    status_code=200,
    sync_to_thread=True,
    tags=TAGS,
    summary="Stripe events",
    opt=_OPT,
    operation_class=_raw_body_operation(
        {"application/json": _ANY_OBJECT}, "A Stripe event, exactly as Stripe sent it (the signature covers the bytes)."
    ),
    responses=problem_responses(409, 429, 503),
)
def stripe_webhook(
    raw_body: NamedDependency[bytes],
    request: Request[Any, Any, Any],
    checkout: NamedDependency[App],
    stripe_signature: StripeSignature = None,
) -> WebhookReceived:
    """Called by Stripe. The signature is verified (300 s tolerance) before anything else; a bad,
    missing or stale one is 400 ``webhook_rejected`` and changes nothing. Each event id is
    handled once (a redelivery answers ``outcome: duplicate``). 409 ``webhook_deferred`` when the
    payment's own API call is still in flight (Stripe delivers it again later); 503
    ``webhooks_not_configured`` without `STRIPE_WEBHOOK_SECRET`; 429 ``too_many_attempts`` for an
    address past its limit of deliveries that did not verify."""
    _refuse_flooding_address(checkout, request)
    events = checkout.gateway_events
    if events is None:
        raise HttpProblem(
            503,
            NOT_CONFIGURED,
            "Stripe webhooks are not configured on this server (STRIPE_WEBHOOK_SECRET).",
            title="Webhooks not configured",
        )
    try:
        event = events.parse(raw_body, stripe_signature or "")
    except GatewayEventRejected as error:
        # The message names what failed (signature, body), never the secret or the header.
        log.warning("Stripe webhook refused: %s", error.message)
        count_webhook("stripe", "unverified", "rejected")
        _count_rejected(checkout, request)
        raise HttpProblem(
            400, REJECTED, f"The Stripe event was not accepted: {error.message}.", title="Webhook not accepted"
        ) from None
    outcome = handle_gateway_event(checkout.ctx, event, processed=checkout.processed_gateway_events)
    log.info("Stripe event %s (%s): %s", event.id, event.type, outcome.value)
    count_webhook("stripe", event.type, outcome.value)
    if outcome.wants_redelivery:
        raise HttpProblem(
            409,
            DEFERRED,
            "The payment's API call is still in progress; deliver this event again later.",
            title="Event deferred",
        )
    return WebhookReceived(received=True, outcome=outcome.value)


@post(
    "/signing",
    status_code=200,
    sync_to_thread=True,
    media_type=MediaType.TEXT,
    tags=TAGS,
    summary="Signing provider callbacks (Dropbox Sign)",
    opt=_OPT,
    operation_class=_raw_body_operation(
        {
            "multipart/form-data": Schema(
                type=OpenAPIType.OBJECT,
                properties={"json": Schema(type=OpenAPIType.STRING, description="The event, as JSON.")},
                required=["json"],
            )
        },
        "A Dropbox Sign event as it posts them: one form field `json`.",
    ),
    responses={
        200: ResponseSpec(
            data_container=str,
            media_type=MediaType.TEXT,
            description=f"Acknowledged: the body is `{CALLBACK_ACKNOWLEDGEMENT}` (what Dropbox Sign requires).",
            generate_examples=False,
        ),
        **problem_responses(409, 429, 503),
    },
)
def signing_webhook(
    raw_body: NamedDependency[bytes], request: Request[Any, Any, Any], checkout: NamedDependency[App]
) -> Response[str]:
    """Called by the signing provider. The callback is verified (HMAC, freshness, and for
    "signed"/"declined" the provider's own record) before anything else: a forged, stale or
    unconfirmable one is 400 ``webhook_rejected`` and changes nothing; 503 when the provider's
    API cannot be reached to confirm it (it retries). A replayed callback changes nothing. 429
    ``too_many_attempts`` for an address past its limit of deliveries that did not verify."""
    _refuse_flooding_address(checkout, request)
    try:
        callback = checkout.ctx.signer.verify_callback(raw_body, dict(request.headers))
    except SigningNotAvailable as error:
        reason = error.details.get("reason")
        if reason == "provider_unavailable":
            raise  # 503 with Retry-After (problems.py): the provider delivers it again
        log.warning("signing callback refused (%s)", reason or "not accepted by this signer")
        count_webhook("signing", "unverified", "rejected")
        _count_rejected(checkout, request)
        raise HttpProblem(
            400,
            REJECTED,
            f"The signing callback was not accepted: {error.message}.",
            title="Webhook not accepted",
            reason=reason if isinstance(reason, str) else "not_accepted",
        ) from None
    if callback.event == "callback_test" or not callback.order_id:
        # Dropbox Sign's test event when the callback URL is saved, and account-level events
        # about no order of ours: acknowledged, nothing to do.
        return _acknowledge()
    outcome = apply_signing_callback(checkout.ctx, callback)
    log.info("signing callback %s for order %s: %s", callback.event, callback.order_id, outcome)
    count_webhook("signing", callback.event, outcome)
    return _acknowledge()


def _acknowledge() -> Response[str]:
    return Response(content=CALLBACK_ACKNOWLEDGEMENT, media_type=MediaType.TEXT, status_code=200)


ROUTES = [stripe_webhook, signing_webhook]
