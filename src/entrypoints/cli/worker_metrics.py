"""Watching a job worker (``checkout … --loop``): a heartbeat in the metrics (last pass, rows
handled, failures), one trace per pass, and with ``CHECKOUT_WORKER_METRICS_PORT`` an HTTP port
of its own serving ``/metrics``, ``/health`` and ``/ready``.

:func:`watched` wraps a job's pass function; ``run_job`` (``cli/output.py``) calls it, so every
worker gets this without a line of its own. A single run (no ``--loop``) records nothing and
opens no port."""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import click

from entrypoints.observability import tracing
from entrypoints.observability.logs import configure_logging
from entrypoints.observability.metrics import metrics, metrics_available, render

log = logging.getLogger("checkout.worker")

#: Interface the worker's port listens on (``0.0.0.0`` in a container; loopback by default).
HOST_VARIABLE = "CHECKOUT_WORKER_METRICS_HOST"

PassFunction = Callable[[], Mapping[str, Any]]


def job_name() -> str:
    """The running command without the program name: ``reservations expire``."""
    context = click.get_current_context(silent=True)
    if context is None:
        return "job"
    return context.command_path.partition(" ")[2] or context.command_path


def rows_handled(result: Mapping[str, Any]) -> int:
    """The rows a pass reports (the sum of its whole-number members: ``{"expired": 3, "at": …}`` → 3)."""
    return sum(value for value in result.values() if isinstance(value, int) and not isinstance(value, bool))


class WorkerStatus:
    """What ``/ready`` of a worker answers from: the last pass, and the process's checks."""

    def __init__(self, checks: Callable[[], tuple[bool, dict[str, str]]], token: str) -> None:
        self.checks = checks
        self.token = token
        self.last_pass_ok: bool | None = None


def serve_worker_port(port: int, status: WorkerStatus, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve ``/metrics``, ``/health`` and ``/ready`` on a daemon thread; returns the server."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.partition("?")[0]
            if path == "/metrics":
                if status.token and not hmac.compare_digest(
                    self.headers.get("Authorization", "").encode(), f"Bearer {status.token}".encode()
                ):
                    self._answer(401, b'{"code":"unauthorized"}', "application/problem+json")
                    return
                body, content_type = render()
                self._answer(200, body, content_type)
            elif path == "/health":
                self._answer(200, b'{"status":"ok"}', "application/json")
            elif path == "/ready":
                ok, results = status.checks()
                if status.last_pass_ok is not None:
                    results["lastPass"] = "ok" if status.last_pass_ok else "failed"
                    ok = ok and status.last_pass_ok
                body = json.dumps({"status": "ok" if ok else "unavailable", "checks": results}).encode()
                self._answer(200 if ok else 503, body, "application/json")
            else:
                self._answer(404, b'{"code":"not_found"}', "application/problem+json")

        def _answer(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes are not worth a log line each."""

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    return server


def _open_port(job: str) -> WorkerStatus | None:
    """The worker's port, when ``CHECKOUT_WORKER_METRICS_PORT`` asks for one."""
    from entrypoints.cli.app_factory import CliState
    from entrypoints.observability.readiness import app_checks, job_checks, run_checks

    context = click.get_current_context(silent=True)
    state = context.find_object(CliState) if context is not None else None
    if state is None:
        return None
    settings = state.settings()
    if not logging.getLogger().handlers:  # the worker's own lines in the service's one format
        configure_logging(settings.log_level, settings.log_format)
    if not settings.worker_metrics_port:
        return None
    extra = job_checks(job, settings)
    status = WorkerStatus(lambda: run_checks({**app_checks(state.app()), **extra}), settings.metrics_token)
    host = os.environ.get(HOST_VARIABLE, "127.0.0.1")
    server = serve_worker_port(settings.worker_metrics_port, status, host)
    if context is not None:
        context.call_on_close(server.shutdown)
    log.info("worker %s serves /metrics on %s:%d", job, host, server.server_address[1])
    return status


def watched(one_pass: PassFunction, *, loop: bool) -> PassFunction:
    """``one_pass`` recording the heartbeat and a trace per pass (a worker loop only)."""
    if not loop or not metrics_available():
        return one_pass
    job = job_name()
    recorder = metrics()
    status = _open_port(job)

    def pass_watched() -> Mapping[str, Any]:
        try:
            with tracing.pass_span(job):
                result = one_pass()
        except BaseException as error:
            log.warning("pass of %s failed (%s)", job, type(error).__name__, extra={"job": job})
            recorder.job_passes.labels(job, "failed").inc()
            recorder.job_last_pass.labels(job).set(time.time())
            if status is not None:
                status.last_pass_ok = False
            raise
        recorder.job_passes.labels(job, "ok").inc()
        recorder.job_rows.labels(job).inc(rows_handled(result))
        now = time.time()
        recorder.job_last_pass.labels(job).set(now)
        recorder.job_last_success.labels(job).set(now)
        if status is not None:
            status.last_pass_ok = True
        return result

    return pass_watched
