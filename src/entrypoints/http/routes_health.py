"""Liveness and readiness probes (no authentication: they reveal nothing but "up")."""

from __future__ import annotations

import logging

from litestar import get
from litestar.di import NamedDependency

from entrypoints.bootstrap import App
from entrypoints.http.problems import HttpProblem, problem_responses
from entrypoints.http.schemas import Health

log = logging.getLogger("checkout.http")


@get("/health", sync_to_thread=False, tags=["health"], summary="Liveness", responses=problem_responses())
def health() -> Health:
    """The process is up and serving requests (touches no dependency)."""
    return Health(status="ok")


@get("/ready", sync_to_thread=True, tags=["health"], summary="Readiness", responses=problem_responses(503))
def ready(checkout: NamedDependency[App]) -> Health:
    """The process can do its work: the database answers. 503 ``service_unavailable`` if not."""
    try:
        checkout.check_database()
    except Exception as error:
        # Only the type goes to the log: driver messages can carry connection strings.
        log.warning("readiness check failed: database unreachable (%s)", type(error).__name__)
        raise HttpProblem(503, "service_unavailable", "The database is not reachable.") from None
    return Health(status="ok", checks={"database": "ok"})


ROUTES = [health, ready]
