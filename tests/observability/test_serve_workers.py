"""``checkout serve --workers 2`` as operators run it: every stderr line is one JSON object (ours
and uvicorn's), and ``/metrics`` counts the requests of both workers whichever one answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.servers import ManagedProcess, checkout_env, checkout_server

from tests.observability.test_http_observability import promtool_check, sample

pytestmark = pytest.mark.slow

REQUESTS = 40


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ManagedProcess]:
    env = checkout_env(database_url="", data_dir=tmp_path / "data", jwt_secret="serve-workers-secret-" + "x" * 20)
    env.pop("CHECKOUT_DATABASE_URL")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update({"CHECKOUT_LOG_LEVEL": "INFO", "CHECKOUT_LOG_FORMAT": "json"})
    process = checkout_server("serve-workers", env, tmp_path, workers=2).start(ready_path="/ready")
    yield process
    process.stop()


def test_two_workers_share_their_metrics_and_log_json(server: ManagedProcess) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        for n in range(REQUESTS):
            assert client.get("/health", headers={"X-Request-ID": f"w-{n}"}).status_code == 200
        scrapes = [client.get("/metrics").text for _ in range(6)]

    # Every scrape, whichever worker answered it, counts all the /health requests of both.
    counts = {
        sample(text, "checkout_http_requests_total", route="/health", method="GET", status="200") for text in scrapes
    }
    assert counts == {float(REQUESTS)}, counts
    promtool_check(scrapes[-1])

    server.stop()
    lines = [line for line in server.output_lines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON: none is plain text
    loggers = {r["logger"] for r in records}
    assert {"checkout.serve", "checkout.access"} <= loggers, loggers
    assert any(name.startswith("uvicorn") for name in loggers), loggers
    access = [r for r in records if r["logger"] == "checkout.access" and r["route"] == "/health"]
    assert {r["requestId"] for r in access} == {f"w-{n}" for n in range(REQUESTS)}
