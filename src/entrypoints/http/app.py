"""The Litestar application factory: ``create_app(app)`` wires the routes, the middleware, the
error mapping, the operators' endpoints and the OpenAPI document around a bootstrapped
:class:`App`. Why the middleware is in its order: ``docs/http-middleware.md``."""

from __future__ import annotations

import time
from typing import Any

from litestar import Litestar, Request, Router
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, Tag
from litestar.plugins import PluginProtocol
from litestar.types import ASGIApp, Method, Receive, Scope, Send
from litestar.types.internal_types import PathParameterDefinition

from checkout_core.usecases.context import Actor
from entrypoints.bootstrap import App
from entrypoints.http import (
    routes_countersign,
    routes_document_checks,
    routes_health,
    routes_orders,
    routes_reservations,
    routes_signing,
    routes_webhooks,
)
from entrypoints.http.auth import (
    AUTH_OPT,
    BEARER,
    BEARER_SCHEME,
    BEARER_SECURITY,
    SECURITY_SCHEME_NAME,
    BearerAuthMiddleware,
    provide_actor,
)
from entrypoints.http.card_guard import CardGuardMiddleware, install_log_redaction
from entrypoints.http.headers import OptionsMiddleware, security_headers
from entrypoints.http.idempotency import IdempotencyMiddleware, install_idempotent_handlers
from entrypoints.http.observe import observe
from entrypoints.http.openapi_downloads import describe_binary_downloads
from entrypoints.http.problems import HttpProblem, handle_exception
from entrypoints.http.schemas import BODY_OPT, FORM_BODY, JSON_BODY, MULTIPART_BODY
from entrypoints.observability import tracing
from entrypoints.observability import version as running
from entrypoints.observability.backlog_gauges import BacklogGauges

API_PREFIX = "/api/v1"

_ACCEPTED: dict[str, tuple[str, ...]] = {
    JSON_BODY: ("application/json",),
    MULTIPART_BODY: ("multipart/form-data",),
    FORM_BODY: ("application/x-www-form-urlencoded", "multipart/form-data"),
}


def _accepts(expected: str, media_type: str) -> bool:
    if expected == JSON_BODY and media_type.startswith("application/") and media_type.endswith("+json"):
        return True
    return media_type in _ACCEPTED.get(expected, ())


class MediaTypeMiddleware(ASGIMiddleware):
    """415 ``unsupported_media_type`` for a body the route cannot take (routes declare
    ``opt={"body": "json" | "multipart" | "form"}``; a route without a body ignores one)."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Check the Content-Type of a non-empty body."""
        expected = scope["route_handler"].opt.get(BODY_OPT)
        if expected is not None:
            request: Request[Any, Any, Any] = Request(scope, receive)
            if await request.body():
                media_type, _ = request.content_type
                if not _accepts(expected, media_type):
                    wanted = " or ".join(_ACCEPTED[expected])
                    raise HttpProblem(
                        415,
                        "unsupported_media_type",
                        f"This endpoint takes {wanted}, not {media_type or 'a body without Content-Type'}.",
                    )
        await next_app(scope, receive, send)


#: "METHOD path" → operationId: what a generated client calls each operation. Keyed by the API's
#: paths (stable), not by handler functions, so moving or renaming a handler changes nothing.
OPERATION_IDS: dict[str, str] = {
    "GET /api/v1/reservations": "listReservations",
    "POST /api/v1/reservations": "createReservation",
    "GET /api/v1/reservations/{reservation_id}": "getReservation",
    "DELETE /api/v1/reservations/{reservation_id}": "cancelReservation",
    "GET /api/v1/orders": "listOrders",
    "POST /api/v1/orders": "createOrder",
    "GET /api/v1/orders/{order_id}": "getOrder",
    "POST /api/v1/orders/{order_id}/cancel": "cancelOrder",
    "POST /api/v1/orders/{order_id}/documents/sign": "startSigning",
    "POST /api/v1/orders/{order_id}/documents/countersign": "countersignAgreement",
    "GET /api/v1/orders/{order_id}/documents": "listDocuments",
    "GET /api/v1/orders/{order_id}/documents/audit": "getSigningAuditTrail",
    "GET /api/v1/orders/{order_id}/documents/verification": "verifyDocuments",
    "GET /api/v1/orders/{order_id}/documents/{document_id}": "downloadDocument",
    "POST /api/v1/orders/{order_id}/insurance": "uploadInsurance",
    "POST /api/v1/orders/{order_id}/insurance/verify": "verifyInsurance",
    "POST /api/v1/orders/{order_id}/insurance/reject": "rejectInsurance",
    "GET /api/v1/orders/{order_id}/payments/bank-transfer": "getBankTransferInstructions",
    "POST /api/v1/orders/{order_id}/payments/card": "payByCard",
    "POST /api/v1/payments/bank-transfers": "recordBankTransfer",
    "GET /api/v1/payments/reconciliation": "getReconciliation",
    "POST /api/v1/orders/{order_id}/delivery/schedule": "scheduleDelivery",
    "POST /api/v1/orders/{order_id}/delivery/dispatch": "dispatchVehicle",
    "POST /api/v1/orders/{order_id}/delivery/deliver": "markDelivered",
    "POST /api/v1/orders/{order_id}/complete": "completeOrder",
    "POST /api/v1/orders/{order_id}/return": "returnOrder",
    "POST /api/v1/webhooks/stripe": "receiveStripeWebhook",
    "POST /api/v1/webhooks/signing": "receiveSigningWebhook",
    "GET /sign/{order_id}/{envelope_id}": "getSigningPage",
    "POST /sign/{order_id}/{envelope_id}": "submitSignature",
    "GET /sign/{order_id}/{envelope_id}/agreement.pdf": "downloadSigningAgreement",
    "POST /sign/{order_id}/{envelope_id}/decline": "declineSigning",
    "GET /sign/{order_id}/{envelope_id}/pages/{page}": "getAgreementPageImage",
    "GET /sign/brand/logo": "getBrandLogo",
    "GET /health": "getHealth",
    "GET /ready": "getReadiness",
    "GET /version": "getVersion",
}


def operation_key(http_method: str, path_components: list[str | PathParameterDefinition]) -> str:
    """``"GET /api/v1/orders/{order_id}"``: the key of :data:`OPERATION_IDS`."""
    parts = (f"{{{c.name}}}" if isinstance(c, PathParameterDefinition) else c for c in path_components)
    return f"{http_method.upper()} /" + "/".join(parts)


def operation_id(
    route_handler: HTTPRouteHandler, http_method: Method, path_components: list[str | PathParameterDefinition]
) -> str:
    """The operationId of a route (see :data:`OPERATION_IDS`; else the handler's name in camelCase)."""
    known = OPERATION_IDS.get(operation_key(http_method, path_components))
    if known is not None:
        return known
    head, *rest = route_handler.handler_name.split("_")
    return head + "".join(part.title() for part in rest)


class UseCaseSpanMiddleware(ASGIMiddleware):
    """The span of the use case a route runs (only installed when tracing is on)."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Run the handler inside a span named after it."""
        name = scope["route_handler"].handler_name
        with tracing.use_case_span(name)():
            await next_app(scope, receive, send)


def openapi_config() -> OpenAPIConfig:
    """OpenAPI 3.1 at ``/schema/openapi.json`` with the bearer scheme."""
    return OpenAPIConfig(
        title="Checkout & purchase API",
        version=running.version(),
        description=(
            "Reserve a car with a refundable deposit, check out, sign, insure, pay and take delivery. "
            "Amounts are integer cents (CAD); times are ISO 8601 UTC. Errors are RFC 9457 "
            "`application/problem+json` with a stable `code`. POSTs take an `Idempotency-Key`. "
            "Card numbers are refused: send gateway tokens."
        ),
        path="/schema",
        components=Components(security_schemes={SECURITY_SCHEME_NAME: BEARER_SCHEME}),
        tags=[
            Tag(name="reservations", description="Hold a car with the $100 refundable deposit."),
            Tag(name="orders", description="Checkout and the order's state."),
            Tag(name="documents", description="The purchase agreement and signing."),
            Tag(name="insurance", description="Proof of insurance."),
            Tag(name="payments", description="Paying the balance."),
            Tag(name="delivery", description="Delivery, completion and returns (advisors)."),
            Tag(name="signing", description="The built-in signing page (HTML, no token: the link is the credential)."),
            Tag(
                name="webhooks",
                description="Called by Stripe and the signing provider (no token: each delivery is signed).",
            ),
            Tag(name="health", description="Probes."),
        ],
        use_handler_docstrings=True,
        operation_id_creator=operation_id,
    )


class _Litestar(Litestar):
    """Litestar without what it loads by default and this API never uses: Pydantic's plugins
    (pydantic is installed for dropbox-sign; the plugins cost ~8 MB and 80 modules in every
    worker, and our schemas are attrs and msgspec) and its OpenTelemetry middleware patch (our
    spans come from :mod:`entrypoints.observability.tracing`; the patch imports OpenTelemetry
    even when tracing is off). Both are private Litestar hooks: tests/entrypoints/test_worker_imports.py
    fails if an upgrade brings pydantic or OpenTelemetry back into a worker."""

    @staticmethod
    def _get_default_plugins(plugins: list[PluginProtocol]) -> list[PluginProtocol]:
        from litestar.plugins.attrs import AttrsSchemaPlugin
        from litestar.plugins.core import MsgspecDIPlugin

        if not any(isinstance(plugin, MsgspecDIPlugin) for plugin in plugins):
            plugins.append(MsgspecDIPlugin())
        if not any(isinstance(plugin, AttrsSchemaPlugin) for plugin in plugins):
            plugins.append(AttrsSchemaPlugin())
        return plugins

    @staticmethod
    def _patch_opentelemetry_middleware(config: AppConfig) -> AppConfig:
        return config


def create_app(app: App) -> Litestar:
    """The HTTP API around ``app`` (the caller owns ``app`` and closes it)."""
    install_log_redaction()

    def provide_checkout() -> App:
        return app

    def provide_caller(request: Request[Any, Any, Any], checkout: NamedDependency[App]) -> Actor:
        # ``checkout`` is unused: depending on it makes Litestar resolve the two dependencies
        # one after the other. Independent dependencies are resolved concurrently, in an anyio
        # task group per request, which costs more than both of them together.
        del checkout
        return provide_actor(request)

    api = Router(
        path=API_PREFIX,
        route_handlers=[
            *routes_reservations.ROUTES,
            *routes_orders.ROUTES,
            *routes_orders.RESOURCE_ROUTES,
            *routes_countersign.ROUTES,
            *routes_document_checks.ROUTES,
        ],
        opt={AUTH_OPT: BEARER},
        security=BEARER_SECURITY,
        dependencies={"actor": Provide(provide_caller, sync_to_thread=False)},
    )
    # Provider webhooks live under /api/v1 but outside the bearer-protected router: the
    # provider's signature over the raw body is their credential (see routes_webhooks).
    webhooks = Router(
        path=API_PREFIX + routes_webhooks.PATH,
        route_handlers=routes_webhooks.ROUTES,
        dependencies={"raw_body": Provide(routes_webhooks.raw_body)},
    )
    middleware: list[ASGIMiddleware] = [
        CardGuardMiddleware(),
        OptionsMiddleware(),
        MediaTypeMiddleware(),
        BearerAuthMiddleware(app.tokens, app.ctx),
        IdempotencyMiddleware(app.idempotency, app.ctx.clock),
    ]
    if tracing.tracer() is not None:
        middleware.append(UseCaseSpanMiddleware())
    asgi = _Litestar(
        route_handlers=[api, webhooks, routes_signing.ROUTER, *routes_health.ROUTES],
        state=State({routes_health.GAUGES_STATE: BacklogGauges(app, clock=time.monotonic)}),
        dependencies={"checkout": Provide(provide_checkout, sync_to_thread=False, use_cache=True)},
        middleware=middleware,
        exception_handlers={Exception: handle_exception},
        before_send=[security_headers],
        request_max_body_size=app.settings.max_request_bytes,
        openapi_config=openapi_config(),
        # The process's logging belongs to whoever runs it (uvicorn, tests); Litestar must not
        # reconfigure it. Errors are logged by our exception handler.
        logging_config=None,
        debug=False,
    )
    # Claim, use case and stored answer in the handler's one thread call (see idempotency.py).
    install_idempotent_handlers(asgi)
    # Outside Litestar's routing, so 404s and 405s get a request id, a metric and a log line too.
    asgi.asgi_handler = observe(asgi.asgi_handler)
    # At startup, not here: building the document costs tens of milliseconds per app.
    asgi.on_startup.append(lambda: describe_binary_downloads(asgi.openapi_schema))
    return asgi
