"""Bearer JWT authentication: ``Authorization: Bearer <token>`` → the calling
:class:`~checkout_core.usecases.context.Actor` (customer or advisor).

Routes opt in with ``opt={"auth": "bearer"}`` (the ``/api/v1`` router sets it for all its
routes). The middleware verifies the token before the idempotency layer runs, because
idempotency keys are scoped to the caller. Authorisation itself (whose order is whose, what is
advisor-only) stays in the use cases."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.openapi.spec import SecurityScheme
from litestar.types import ASGIApp, Receive, Scope, Send

from adapters.auth.jwt_tokens import InvalidToken, JwtTokens
from checkout_core.usecases.context import Actor
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


def actor_from_header(tokens: JwtTokens, authorization: str | None) -> Actor:
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


class BearerAuthMiddleware(ASGIMiddleware):
    """Puts the verified :class:`Actor` in ``scope["user"]`` for routes that require a token."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, tokens: JwtTokens) -> None:
        self._tokens = tokens

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Authenticate, or answer 401."""
        if scope["route_handler"].opt.get(AUTH_OPT) == BEARER:
            headers = Headers.from_scope(scope)
            scope["user"] = actor_from_header(self._tokens, headers.get("authorization"))
        await next_app(scope, receive, send)


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    """Dependency ``actor``: the authenticated caller of a bearer-protected route."""
    user = request.scope.get("user")
    if not isinstance(user, Actor):
        # Only reachable if a route asks for an actor without opting in to bearer auth.
        raise _unauthorized("This endpoint needs a bearer token (Authorization: Bearer <token>).")
    return user
