"""The Litestar application factory: ``create_app(app)`` wires the routes, the middleware, the
error mapping and the OpenAPI document around a bootstrapped :class:`App`.

Middleware order (outermost first), and why:

1. :class:`CardGuardMiddleware` — a card number is refused before anything parses, logs or
   stores the request (it also reads the body once, under the size limit, for the others).
2. :class:`OptionsMiddleware` — ``OPTIONS`` is answered with every method of the path, before
   auth (the methods of a path are public).
3. :class:`MediaTypeMiddleware` — a body in a media type the route does not take is 415.
4. :class:`BearerAuthMiddleware` — the caller, for ``/api/v1`` routes (401 otherwise).
5. :class:`IdempotencyMiddleware` — needs the caller (keys are scoped to them) and sees the
   final response of the handler, errors included, to store and replay it.

Around all of it, the ``before_send`` hook :func:`security_headers` adds ``nosniff`` and
``no-store`` to every response the app sends (see ``headers.py``).
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Router
from litestar.di import NamedDependency, Provide
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, Tag
from litestar.types import ASGIApp, Receive, Scope, Send

from checkout_core.usecases.context import Actor
from entrypoints.bootstrap import App
from entrypoints.http import routes_health, routes_orders, routes_reservations, routes_signing, routes_webhooks
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
from entrypoints.http.idempotency import IdempotencyMiddleware
from entrypoints.http.problems import HttpProblem, handle_exception
from entrypoints.http.schemas import BODY_OPT, FORM_BODY, JSON_BODY, MULTIPART_BODY

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


def openapi_config() -> OpenAPIConfig:
    """OpenAPI 3.1 at ``/schema/openapi.json`` with the bearer scheme."""
    return OpenAPIConfig(
        title="Checkout & purchase API",
        version="1.0.0",
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
    )


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
        route_handlers=[*routes_reservations.ROUTES, *routes_orders.ROUTES],
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
    return Litestar(
        route_handlers=[api, webhooks, routes_signing.ROUTER, *routes_health.ROUTES],
        dependencies={"checkout": Provide(provide_checkout, sync_to_thread=False, use_cache=True)},
        middleware=[
            CardGuardMiddleware(),
            OptionsMiddleware(),
            MediaTypeMiddleware(),
            BearerAuthMiddleware(app.tokens, app.ctx),
            IdempotencyMiddleware(app.idempotency, app.ctx.clock),
        ],
        exception_handlers={Exception: handle_exception},
        before_send=[security_headers],
        request_max_body_size=app.settings.max_request_bytes,
        openapi_config=openapi_config(),
        # The process's logging belongs to whoever runs it (uvicorn, tests); Litestar must not
        # reconfigure it. Errors are logged by our exception handler.
        logging_config=None,
        debug=False,
    )
