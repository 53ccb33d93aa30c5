"""Operators' endpoints: liveness, readiness, the version and Prometheus metrics (no bearer
token: they reveal nothing about customers; ``/metrics`` takes ``CHECKOUT_METRICS_TOKEN``)."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.di import NamedDependency

from entrypoints.bootstrap import App
from entrypoints.http.problems import HttpProblem, problem_responses
from entrypoints.http.schemas import Health
from entrypoints.observability import version as running
from entrypoints.observability.backlog_gauges import BacklogGauges
from entrypoints.observability.metrics import metrics_available, render
from entrypoints.observability.readiness import app_checks, run_checks

#: Where ``create_app`` keeps the app's :class:`BacklogGauges` (``Litestar.state``).
GAUGES_STATE = "backlog_gauges"


class VersionInfo(msgspec.Struct, kw_only=True, rename="camel"):
    """What is running."""

    version: Annotated[str, msgspec.Meta(description="The package version.")]
    commit: Annotated[str, msgspec.Meta(description="The git commit of the running code (`unknown` if not known).")]
    schema_revision: Annotated[
        str | None, msgspec.Meta(description="The database's migration revision (null in memory or when empty).")
    ]


@get("/health", sync_to_thread=False, tags=["health"], summary="Liveness", responses=problem_responses())
def health() -> Health:
    """The process is up and serving requests (touches no dependency)."""
    return Health(status="ok")


@get("/ready", sync_to_thread=True, tags=["health"], summary="Readiness", responses=problem_responses(503))
def ready(checkout: NamedDependency[App]) -> Health:
    """The process can do its work: the database answers and its schema is at the code's head.
    503 ``service_unavailable`` naming the failed checks if not."""
    ok, results = run_checks(app_checks(checkout))
    if not ok:
        failed = ", ".join(f"{name}: {value}" for name, value in results.items() if value != "ok")
        raise HttpProblem(503, "service_unavailable", f"Not ready: {failed}.", checks=results)
    return Health(status="ok", checks=results)


@get("/version", sync_to_thread=True, tags=["health"], summary="Version", responses=problem_responses())
def version_info(checkout: NamedDependency[App]) -> VersionInfo:
    """The package version, the git commit and the database's schema revision."""
    revision = None
    if checkout.schema_revisions is not None:
        revision = checkout.schema_revisions()[0]
    return VersionInfo(version=running.version(), commit=running.commit(), schema_revision=revision)


@get("/metrics", sync_to_thread=True, include_in_schema=False)
def prometheus_metrics(request: Request[Any, Any, Any], checkout: NamedDependency[App]) -> Response[bytes]:
    """Prometheus text format; ``Authorization: Bearer $CHECKOUT_METRICS_TOKEN`` when that is set."""
    expected = checkout.settings.metrics_token
    if expected:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            raise HttpProblem(
                401,
                "unauthorized",
                "GET /metrics needs Authorization: Bearer <CHECKOUT_METRICS_TOKEN>.",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    if not metrics_available():
        raise HttpProblem(503, "service_unavailable", "Metrics need the 'metrics' extra (prometheus-client).")
    gauges: BacklogGauges = request.app.state[GAUGES_STATE]
    body, content_type = render([gauges.collect])
    return Response(content=body, media_type=content_type)


ROUTES = [health, ready, version_info, prometheus_metrics]
