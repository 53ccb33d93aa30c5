"""The outermost layer of every HTTP exchange: the request id, the request metrics and the
access log line (and, when tracing is on, the request's span).

It wraps Litestar's own ASGI handler (:func:`observe`) rather than sitting in the middleware
list, because Litestar runs middleware only for requests that matched a route: a 404 or 405
would otherwise be neither counted nor logged. Inside it, Litestar's exception handling has
already turned every error into a response, so the status seen here is the one sent."""

from __future__ import annotations

import logging
import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from checkout_core.usecases.context import Actor
from entrypoints.observability import tracing
from entrypoints.observability.metrics import Metrics, metrics, metrics_available
from entrypoints.observability.request_context import accept_request_id, bind_request_id, reset_request_id
from entrypoints.redaction import redact

REQUEST_ID_HEADER = b"x-request-id"

#: The access log: one line per request, at INFO.
access_log = logging.getLogger("checkout.access")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


#: Methods the access line prints as they are; anything else is masked like any logged text.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def log_access(request_id: str, method: str, route: str, status: int, elapsed: float, user: object) -> None:
    """The access line: one per request, at INFO, ids only.

    Built as a record directly rather than through ``Logger.info``: every member is either ours
    (the route *template*, the status, the duration), validated (the request id), or an id from a
    verified token, so the masking the record factory would run costs a tenth of a request's
    CPU for nothing. The method is the one client-chosen string: masked unless a known verb."""
    if method not in _KNOWN_METHODS:
        method = redact(method)
    record = logging.LogRecord(access_log.name, logging.INFO, __file__, 0, "%s %s %d", (method, route, status), None)
    record.requestId = request_id
    record.method = method
    record.route = route
    record.status = status
    record.durationMs = round(elapsed * 1000, 2)
    if isinstance(user, Actor):
        record.actorId = user.id  # an id, never a name or an email
    record.__dict__["_checkout_redacted"] = True
    access_log.handle(record)


def observe(app: ASGIApp) -> ASGIApp:
    """``app`` with request ids, request metrics and the access log (HTTP only)."""
    recorder: Metrics | None = metrics() if metrics_available() else None
    tracer = tracing.tracer()

    async def observed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = accept_request_id(_header(scope, REQUEST_ID_HEADER))
        token = bind_request_id(request_id)
        status = 500
        echoed = request_id.encode("ascii")

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, echoed)]
            await send(message)

        span = tracer.start_request(scope) if tracer is not None else None
        try:
            await app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = str(scope.get("path_template") or "unmatched")
            method: str = scope.get("method", "")
            if recorder is not None:
                recorder.http_requests.labels(route, method, str(status)).inc()
                recorder.http_latency.labels(route, method).observe(elapsed)
            if tracer is not None and span is not None:
                tracer.end_request(span, route, status)
            if access_log.isEnabledFor(logging.INFO):
                log_access(request_id, method, route, status, elapsed, scope.get("user"))
            reset_request_id(token)

    observed.__wrapped__ = app  # type: ignore[attr-defined]  # the benchmark measures with and without
    return observed
