"""A job worker (``… --loop``) can be watched: its own port serves /metrics (valid for promtool)
with the heartbeat of its passes, /health and a /ready that names its checks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from entrypoints.observability.readiness import job_checks, run_checks
from entrypoints.settings import Settings
from tests.observability.test_http_observability import promtool_check, sample

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - http:// to a local test server
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - a local test server
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_an_expiry_worker_serves_its_heartbeat(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CHECKOUT_DATA_DIR": str(tmp_path),
        "CHECKOUT_WORKER_METRICS_PORT": str(port),
        "CHECKOUT_METRICS_TOKEN": "worker-token",
        "CHECKOUT_LOG_FORMAT": "json",
    }
    for name in ("CHECKOUT_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    checkout = str(Path(sys.executable).parent / "checkout")
    assert subprocess.run([checkout, "db", "upgrade"], env=env, capture_output=True, check=False).returncode == 0
    worker = subprocess.Popen(
        [checkout, "reservations", "expire", "--loop", "--interval", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        text = ""
        while time.monotonic() < deadline:
            try:
                _status, text = get(f"{base}/metrics", {"Authorization": "Bearer worker-token"})
            except OSError:
                time.sleep(0.2)
                continue
            if sample(text, "checkout_job_passes_total", job="reservations expire", result="ok") >= 2:
                break
            time.sleep(0.2)
        refused, _ = get(f"{base}/metrics")
        ready_status, ready = get(f"{base}/ready")
        health_status, _ = get(f"{base}/health")
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)

    assert sample(text, "checkout_job_passes_total", job="reservations expire", result="ok") >= 2, err
    assert sample(text, "checkout_job_last_success_timestamp_seconds", job="reservations expire") > time.time() - 60
    promtool_check(text)
    assert refused == 401
    assert health_status == 200
    assert ready_status == 200
    assert json.loads(ready)["checks"] == {"database": "ok", "schema": "ok", "gateway": "ok", "lastPass": "ok"}
    assert worker.returncode == 0, err
    assert "expired 0 reservation(s)" in out


def test_a_relay_is_not_ready_without_its_broker(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there
    settings = Settings(data_dir=tmp_path, nats_url=f"nats://127.0.0.1:{closed}")
    ok, results = run_checks(job_checks("events relay", settings))
    up, up_results = run_checks(job_checks("events relay", Settings(data_dir=tmp_path)))  # NATS at :4222

    assert not ok
    assert results == {"broker": "failed (ConnectionRefusedError)"}
    assert up and up_results == {"broker": "ok"}
    assert job_checks("orders complete-due", settings) == {}
