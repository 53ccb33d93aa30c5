"""Headers every answer carries (``nosniff``; ``no-store`` on all but ``/schema``), and ``OPTIONS``
answered here with every method of the path — Litestar's own named only the first handler's.
See docs/http-api.md, "Response headers and OPTIONS"."""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import HttpMethod, ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send

#: Paths whose answers may be cached: the OpenAPI document and its pages (public, the same for
#: everyone, and changed only by a deployment).
CACHEABLE_PREFIX = "/schema"

_OPTIONS_ONLY = frozenset({HttpMethod.OPTIONS})


def _cacheable(path: str) -> bool:
    return path == CACHEABLE_PREFIX or path.startswith(CACHEABLE_PREFIX + "/")


async def security_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook: ``nosniff`` on every response, ``no-store`` unless cacheable."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    headers["X-Content-Type-Options"] = "nosniff"
    if "cache-control" not in headers and not _cacheable(str(scope.get("path", ""))):
        headers["Cache-Control"] = "no-store"


class OptionsMiddleware(ASGIMiddleware):
    """``OPTIONS`` → 204 with ``Allow`` listing every method of the path (no token needed)."""

    scopes = (ScopeType.HTTP,)

    def __init__(self) -> None:
        self._allow: dict[str, bytes] | None = None

    def _methods(self, app: Litestar) -> dict[str, bytes]:
        # Built on first use: by then every route is registered (and never changes).
        if self._allow is None:
            self._allow = {
                route.path_format: ", ".join(sorted(route.methods)).encode()
                for route in app.routes
                if isinstance(route, HTTPRoute)
            }
        return self._allow

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Answer Litestar's generated ``OPTIONS`` handlers here; anything else passes through."""
        handler = scope["route_handler"]
        if (
            scope["type"] != ScopeType.HTTP
            or scope["method"] != HttpMethod.OPTIONS
            or not isinstance(handler, HTTPRouteHandler)
            # The API defines no OPTIONS handler of its own: this is Litestar's generated one.
            or handler.http_methods != _OPTIONS_ONLY
        ):
            await next_app(scope, receive, send)
            return
        allow = self._methods(scope["litestar_app"]).get(str(scope.get("path_template", "")))
        if allow is None:  # not a route we know: let Litestar answer
            await next_app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 204, "headers": [(b"allow", allow)]})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
