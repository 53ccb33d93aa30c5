"""OpenTelemetry traces: one per HTTP request and per worker pass, with the use case, each SQL
statement, and each call to the payment gateway and the signing provider as child spans.

Off by default, and then OpenTelemetry is never imported. On with the standard variables:
``OTEL_TRACES_EXPORTER=otlp`` or an ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`` (the OTLP/HTTP
exporter, the ``otel`` extra), unless ``OTEL_SDK_DISABLED=true``; ``OTEL_SERVICE_NAME`` and the
other ``OTEL_*`` variables are read by the SDK itself. Tests install a provider of their own
with :func:`install`."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

from entrypoints.extras import require_extra

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

T = TypeVar("T")

_INSTRUMENTATION = "checkout"
_lock = threading.Lock()
_tracer: RequestTracer | None = None
_configured = False


def enabled_by_environment(env: Mapping[str, str] | None = None) -> bool:
    """Whether the standard ``OTEL_*`` variables ask for traces."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "")
    if exporter:
        return exporter != "none"
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


class RequestTracer:
    """Starts and ends the spans of HTTP requests, use cases, worker passes and port calls."""

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry import context, propagate, trace

        self.provider = provider
        self._tracer: Tracer = provider.get_tracer(_INSTRUMENTATION)
        self._context = context
        self._propagate = propagate
        self._trace = trace

    def start_request(self, scope: Mapping[str, Any]) -> tuple[Span, object, str]:
        """The server span of a request (continuing the caller's ``traceparent``), made current."""
        carrier = {bytes(k).decode("latin-1"): bytes(v).decode("latin-1") for k, v in scope.get("headers", ())}
        parent = self._propagate.extract(carrier)
        method = scope.get("method", "")
        span = self._tracer.start_span(
            method, context=parent, kind=self._trace.SpanKind.SERVER, attributes={"http.request.method": method}
        )
        token = self._context.attach(self._trace.set_span_in_context(span, parent))
        return span, token, method

    def end_request(self, started: tuple[Span, object, str], route: str, status: int) -> None:
        """Name the span after the route template, record the status, end it."""
        span, token, method = started
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
        span.end()
        self._context.detach(cast("Any", token))

    @contextmanager
    def span(self, name: str, **attributes: str | int) -> Iterator[Span]:
        """A child span of the current one."""
        with self._tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span

    def inject(self, headers: dict[str, str]) -> dict[str, str]:
        """``headers`` with the current trace context (``traceparent``) added, for a message."""
        self._propagate.inject(headers)
        return headers


def install(provider: TracerProvider) -> RequestTracer:
    """Trace with ``provider`` from now on (tests: an in-memory exporter)."""
    global _tracer, _configured
    with _lock:
        _tracer = RequestTracer(provider)
        _configured = True
        return _tracer


def uninstall() -> None:
    """Stop tracing (tests)."""
    global _tracer, _configured
    with _lock:
        _tracer, _configured = None, True


def tracer() -> RequestTracer | None:
    """The tracer, set up from the environment on first use; None when tracing is off."""
    global _tracer, _configured
    if _configured:
        return _tracer
    with _lock:
        if not _configured:
            if enabled_by_environment():
                require_extra("otel", "Tracing (OTEL_*)", modules=("opentelemetry.sdk",))
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
                from opentelemetry.sdk.resources import Resource
                from opentelemetry.sdk.trace import TracerProvider
                from opentelemetry.sdk.trace.export import BatchSpanProcessor

                resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "checkout")})
                provider = TracerProvider(resource=resource)
                provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
                _tracer = RequestTracer(provider)
            _configured = True
    return _tracer


def instrument_engine(engine: Any) -> None:
    """A span per SQL statement on ``engine`` (only when tracing is on)."""
    current = tracer()
    if current is None:
        return
    # Directly on this engine's events (not the global instrument()), with our provider.
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import get_meter

    # The instrumentation also counts pool connections; with no meter provider that is a no-op.
    usage = get_meter("sqlalchemy").create_up_down_counter("db.client.connections.usage")
    EngineTracer(current.provider.get_tracer("sqlalchemy"), engine, usage, enable_commenter=False)  # type: ignore[no-untyped-call]  # unannotated upstream


@contextmanager
def pass_span(job: str) -> Iterator[None]:
    """The root span of one worker pass (nothing when tracing is off)."""
    current = tracer()
    if current is None:
        yield
        return
    with current.span(f"job {job}", job=job):
        yield


def trace_headers() -> dict[str, str]:
    """The current trace context as message headers (``traceparent``); empty when tracing is off."""
    current = tracer()
    return {} if current is None else current.inject({})


def traced_port(port: T, kind: str) -> T:
    """``port`` with a client span around each public method call (``payment_gateway.charge``),
    or ``port`` itself when tracing is off."""
    if tracer() is None:
        return port
    return cast("T", _TracedPort(port, kind))


class _TracedPort:
    """Forwards attribute access to the port; calls of its public methods run in a span."""

    def __init__(self, port: object, kind: str) -> None:
        self._port = port
        self._kind = kind

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._port, name)
        if name.startswith("_") or not callable(value):
            return value
        kind = self._kind

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            current = tracer()
            if current is None:
                return value(*args, **kwargs)
            with current.span(f"{kind}.{name}", **{"checkout.port": kind}):
                return value(*args, **kwargs)

        return call


def use_case_span(name: str) -> Callable[[], Any]:
    """A context-manager factory for the span of a use case named ``name``."""
    current = tracer()
    if current is None:
        return _nothing
    return lambda: current.span(f"usecase {name}", **{"code.function": name})


@contextmanager
def _nothing() -> Iterator[None]:
    yield
