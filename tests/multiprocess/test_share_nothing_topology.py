"""Share-nothing API hosts: two ``checkout serve`` "hosts" and a document worker, each with a data
directory of its own, sharing only PostgreSQL, an S3 API server (moto's), NATS and Redis — and
Stripe (a private localstripe), since a production start refuses the sandbox gateway.

A buyer reserves on host A, places the order on host B, the worker renders the agreement into
the bucket, the buyer signs on A (sealed with the pair generated once into the bucket) and
downloads the signed copy from B. ``checkout documents verify`` passes from every data directory,
none of which holds a document, a secret or a charge afterwards."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.http_load import ADDRESS, JWT_SECRET, Customers, idempotency_key
from bench.seed import prepare_database
from bench.servers import ManagedProcess, checkout_env, checkout_job, checkout_server, script

from adapters.documents.certificates import SEAL_OBJECT
from adapters.documents.s3_store import S3DocumentStore
from tests import redis_server, s3_server
from tests.multiprocess import test_relay_restart
from tests.multiprocess.test_relay_restart import StreamProbe
from tests.payments.localstripe_process import API_KEY, run_localstripe
from tests.postgres import postgres_database
from tests.s3_server import Bucket

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(240)]

s3_endpoint = s3_server.s3_endpoint  # the fixtures, for this module
s3_bucket = s3_server.s3_bucket
redis_url = redis_server.redis_url
redis_prefix = redis_server.redis_prefix
stream = test_relay_restart.stream

BUYERS = 2
CARD = "pm_card_visa"  # a card localstripe accepts


def _order_body(reservation: str, car: str) -> dict[str, Any]:
    return {
        "reservationId": reservation,
        "vehicleId": car,
        "contactInfo": {
            "firstName": "Topology",
            "lastName": "Buyer",
            "email": "buyer@example.com",
            "phone": "416-555-0100",
            "address": ADDRESS,
        },
        "payment": {"method": "cash"},
        "delivery": {"method": "pickup"},
    }


def _documents(base: str, order_id: str, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    answer = httpx.get(f"{base}/api/v1/orders/{order_id}/documents", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return {d["type"]: d for d in answer.json()["items"]}


def _wait_for(what: str, check: Any, processes: list[ManagedProcess], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f}s:\n" + "\n".join(p.log_tail() for p in processes))
        time.sleep(0.2)


def _sign(base: str, order_id: str, headers: dict[str, str]) -> None:
    link = httpx.post(f"{base}/api/v1/orders/{order_id}/documents/sign", headers=headers, timeout=30)
    assert link.status_code == 200, link.text
    page = link.json()["signatureUrl"]
    assert page.startswith(base)  # the signing page is served by the host that was asked
    envelope = page.rsplit("/", 1)[1]
    with httpx.Client(timeout=60) as browser:
        assert browser.get(page).status_code == 200
        signed = browser.post(page, data={"consent": "yes", "typedName": "Topology Buyer", "csrfToken": envelope})
        assert signed.status_code == 200, signed.text


def test_two_hosts_and_a_worker_share_nothing_but_the_services(
    tmp_path: Path,
    processes: list[ManagedProcess],
    s3_bucket: Bucket,
    redis_prefix: str,
    redis_url: str,
    stream: StreamProbe,
) -> None:
    with postgres_database() as url, run_localstripe(_mkdir(tmp_path / "localstripe")) as stripe_base:
        cars = prepare_database(url, vehicles=BUYERS)

        def host_env(data_dir: str) -> dict[str, str]:
            return checkout_env(
                database_url=url,
                data_dir=tmp_path / data_dir,
                jwt_secret=JWT_SECRET,
                extra={
                    **s3_bucket.env(),
                    "CHECKOUT_ENV": "production",
                    "CHECKOUT_PAYMENT_GATEWAY": "stripe",
                    "STRIPE_API_KEY": API_KEY,
                    "CHECKOUT_STRIPE_API_BASE": stripe_base,
                    "CHECKOUT_RATE_LIMIT_STORE": "redis",
                    "CHECKOUT_REDIS_URL": redis_url,
                    "CHECKOUT_REDIS_KEY_PREFIX": redis_prefix,
                    "CHECKOUT_AGREEMENTS": "worker",
                    "CHECKOUT_NATS_URL": test_relay_restart.NATS_URL,
                    "CHECKOUT_NATS_STREAM": stream.stream,
                    "CHECKOUT_NATS_SUBJECT_PREFIX": f"test.topology.{stream.stream.lower()}",
                },
            )

        envs = {name: host_env(name) for name in ("host-a", "host-b", "worker-c")}
        host_a = checkout_server("host-a", envs["host-a"], tmp_path)
        host_b = checkout_server("host-b", envs["host-b"], tmp_path)
        generate = ["documents", "generate", "--loop", "--interval", "0.2"]
        worker = checkout_job("worker-c-documents", generate, envs["worker-c"], tmp_path)
        relay_args = ["events", "relay", "--loop", "--interval", "0.2"]
        relay = checkout_job("worker-c-relay", relay_args, envs["worker-c"], tmp_path)
        processes += [p.launch() for p in (host_a, host_b, worker, relay)]
        for host in (host_a, host_b):
            host.wait_ready(timeout=120)
        a, b = host_a.base_url, host_b.base_url
        customers = Customers("topo")

        orders: list[tuple[str, dict[str, str]]] = []
        for car in cars:
            buyer = customers.auth(customers.new())
            held = httpx.post(
                f"{a}/api/v1/reservations",
                json={"vehicleId": car, "paymentMethod": {"type": "card", "token": CARD}},
                headers={**buyer, "Idempotency-Key": idempotency_key()},
                timeout=60,
            )
            assert held.status_code == 201, held.text
            placed = httpx.post(
                f"{b}/api/v1/orders",
                json=_order_body(held.json()["reservationId"], car),
                headers={**buyer, "Idempotency-Key": idempotency_key()},
                timeout=60,
            )
            assert placed.status_code == 201, placed.text
            orders.append((placed.json()["orderId"], buyer))

        all_processes = [host_a, host_b, worker, relay]
        for order_id, buyer in orders:
            _wait_for(
                f"the agreement of {order_id}",
                lambda o=order_id, h=buyer: _documents(b, o, h)["purchase_agreement"]["status"] == "generated",
                all_processes,
            )
            _sign(a, order_id, buyer)
            documents = _documents(b, order_id, buyer)
            path = (
                "/" + documents["signed_agreement"]["url"].split("/", 3)[-1]
                if "://" in (documents["signed_agreement"]["url"])
                else documents["signed_agreement"]["url"]
            )
            download = httpx.get(f"{b}{path}", headers=buyer, timeout=30)
            assert download.status_code == 200, download.text
            assert download.content.startswith(b"%PDF-")
            assert download.headers["cache-control"] == "private, no-store"
            # The other buyer cannot fetch it from either host.
            other = orders[0][1] if buyer is not orders[0][1] else orders[-1][1]
            assert httpx.get(f"{a}{path}", headers=other, timeout=30).status_code == 404

        for name, env in envs.items():
            for order_id, _ in orders:
                checked = subprocess.run(
                    [script("checkout"), "documents", "verify", order_id],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert checked.returncode == 0, (name, checked.stdout, checked.stderr)
                assert "intact" in checked.stdout

        _wait_for("events on NATS", lambda: stream.count() > 0, all_processes)

    bucket = S3DocumentStore(s3_bucket.client(), s3_bucket.name, prefix=s3_bucket.prefix)
    assert len(list(bucket.keys())) == 2 * BUYERS  # an agreement and a signed copy per order
    assert bucket.read(SEAL_OBJECT) is not None
    for name in envs:
        left = {p.name for p in (tmp_path / name).iterdir()} if (tmp_path / name).exists() else set()
        # At most the cache of the seal pair fetched from the bucket: no documents, no generated
        # JWT secret, no sandbox charges, no SQLite database.
        assert left <= {"signing-cache"}, (name, left)


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path
