"""Bearer JWT authentication: ``Authorization: Bearer <token>`` → the calling
:class:`~checkout_core.usecases.context.Actor` (customer or advisor).

Routes opt in with ``opt={"auth": "bearer"}`` (the ``/api/v1`` router sets it for all its
routes). The middleware verifies the token before the idempotency layer runs, because
idempotency keys are scoped to the caller. Authorisation itself (whose order is whose, what is
advisor-only) stays in the use cases.

The verified :class:`Actor` carries the client's address (``client_ip``) for the per-address
rate limits. Bad tokens are counted per address: past the limit (``bad_tokens_per_ip``) the
answer is 429 ``too_many_attempts`` instead of 401. A valid token is never refused by it: it
cannot be guessed, and refusing it would lock out everyone behind the attacker's address."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import attrs
from litestar import Request
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.openapi.spec import SecurityScheme
from litestar.types import ASGIApp, Receive, Scope, Send

from checkout_core.ports.tokens import InvalidToken, TokenService
from checkout_core.usecases.context import Actor, Context
from checkout_core.usecases.rate_limits import Limit, note_failure
from entrypoints.http.problems import HttpProblem

#: The OpenAPI name of the bearer scheme.
SECURITY_SCHEME_NAME = "BearerToken"
BEARER_SCHEME = SecurityScheme(
    type="http",
    scheme="bearer",
    bearer_format="JWT",
    description="A token from `checkout tokens issue --customer ID [--role customer|advisor]`.",
)
#: Route ``security`` for the routes that need a token.
BEARER_SECURITY: list[dict[str, list[str]]] = [{SECURITY_SCHEME_NAME: []}]

AUTH_OPT = "auth"
BEARER = "bearer"


def _unauthorized(detail: str) -> HttpProblem:
    return HttpProblem(401, "unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="checkout"'})


def actor_from_header(tokens: TokenService, authorization: str | None) -> Actor:
    """The caller named by an ``Authorization`` header value; 401 problem if it is missing or bad."""
    if not authorization:
        raise _unauthorized("This endpoint needs a bearer token (Authorization: Bearer <token>).")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("The Authorization header must be 'Bearer <token>'.")
    try:
        return tokens.verify(token)
    except InvalidToken:
        # The reason (expired, bad signature …) is not echoed: it helps attackers more than users.
        raise _unauthorized("The bearer token is invalid or has expired.") from None


def client_address(scope: Scope) -> str | None:
    """The peer address (uvicorn's proxy headers put the real client here behind a proxy)."""
    client = scope.get("client")
    return str(client[0]) if client else None


class BearerAuthMiddleware(ASGIMiddleware):
    """Puts the verified :class:`Actor` (with the client's address) in ``scope["user"]`` for
    routes that require a token; counts bad tokens per address when given the ``ctx``."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, tokens: TokenService, ctx: Context | None = None) -> None:
        self._tokens = tokens
        self._ctx = ctx

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Authenticate, or answer 401 (429 past the limit of bad tokens from the address)."""
        if scope["route_handler"].opt.get(AUTH_OPT) == BEARER:
            headers = Headers.from_scope(scope)
            address = client_address(scope)
            try:
                actor = actor_from_header(self._tokens, headers.get("authorization"))
            except HttpProblem:
                if self._ctx is not None:
                    ctx = self._ctx
                    # The store may be Redis: never block the event loop on it.
                    await anyio.to_thread.run_sync(lambda: note_failure(ctx, Limit.BAD_TOKENS_PER_IP, address))
                raise
            scope["user"] = attrs.evolve(actor, client_ip=address)
        await next_app(scope, receive, send)


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    """Dependency ``actor``: the authenticated caller of a bearer-protected route."""
    user = request.scope.get("user")
    if not isinstance(user, Actor):
        # Only reachable if a route asks for an actor without opting in to bearer auth.
        raise _unauthorized("This endpoint needs a bearer token (Authorization: Bearer <token>).")
    return user
