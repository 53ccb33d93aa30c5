"""An API worker imports only what its requests use (issue 16: an API worker <= 90 MB).

The real ``checkout serve --workers 2`` starts on a fresh embedded database: the parent
migrates it, then each uvicorn worker (a spawned process) bootstraps, finds the schema at head
and must not load Alembic. After a reservation, an order and a read, every worker reports its
``sys.modules`` (:class:`bench.memory.ModuleProbe`: a ``sitecustomize`` on the workers'
``PYTHONPATH``, no probe code in the server). No timing is asserted; ``bench/memory.py`` prints
the memory figures."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from bench.http_load import ADDRESS, JWT_SECRET
from bench.memory import ModuleProbe, unused_imports
from bench.servers import checkout_env, checkout_server, process_tree

from adapters.auth.jwt_tokens import JwtTokens
from adapters.sql.migrations import head_revision as alembic_head
from adapters.sql.schema_revision import head_revision
from checkout_core.demo import DEMO_VEHICLE_ID
from checkout_core.usecases.context import Role

pytestmark = pytest.mark.slow

#: What the issue names, plus the other packages no request of the three uses.
#: cryptography: the seal's key pair is read only where a copy is sealed, and tokens are HS256 on
#: the standard library (adapters/auth/hs256.py), so an API worker has no use for it (~9 MB).
NEVER_IN_A_WORKER = (
    "alembic",
    "mako",
    "reportlab",
    "pygments",
    "pypdfium2",
    "pyhanko",
    "pydantic",
    "boto3",
    "cryptography",
    "jwt",
)


def _serve_requests(base_url: str) -> None:
    """A reservation, an order on it, and a read of the order, by one customer."""
    customer = f"cus_{uuid.uuid4().hex[:12]}"
    token = JwtTokens(JWT_SECRET).issue(customer, Role.CUSTOMER, now=datetime.now(UTC))
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=auth, timeout=30) as client:
        reserved = client.post(
            "/api/v1/reservations",
            json={"vehicleId": DEMO_VEHICLE_ID, "paymentMethod": {"type": "card", "token": "tok_visa"}},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert reserved.status_code == 201, reserved.text
        order = {
            "reservationId": reserved.json()["reservationId"],
            "vehicleId": DEMO_VEHICLE_ID,
            "contactInfo": {
                "firstName": "Ada",
                "lastName": "Buyer",
                "email": "ada@example.com",
                "phone": "416-555-0100",
                "address": ADDRESS,
            },
            "payment": {"method": "cash"},
            "delivery": {"method": "pickup"},
        }
        placed = client.post("/api/v1/orders", json=order, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert placed.status_code == 201, placed.text
        read = client.get(f"/api/v1/orders/{placed.json()['orderId']}")
        assert read.status_code == 200, read.text


def test_workers_hold_no_migration_pdf_or_unused_package(tmp_path: Path) -> None:
    probe = ModuleProbe(tmp_path / "probe")
    env = checkout_env(database_url="", data_dir=tmp_path / "data", jwt_secret=JWT_SECRET)
    del env["CHECKOUT_DATABASE_URL"]  # the embedded SQLite file, created and migrated by `serve`
    # The production topology: a document worker renders agreements, never the API.
    env = probe.environment({**env, "CHECKOUT_AGREEMENTS": "worker"})
    server = checkout_server("serve", env, tmp_path, workers=2)
    server.argv.append("--demo")
    server.start()
    try:
        _serve_requests(server.base_url)
        workers = [pid for pid in process_tree(server.pid) if pid != server.pid]
        # A worker may still be starting on a busy machine: the probe writes again as it imports
        # more, so look until both have bootstrapped (or a minute has passed).
        deadline = time.monotonic() + 60
        while True:
            modules = probe.collect([server.pid, *workers])
            served = {p: held for p, held in modules.items() if p != server.pid and "adapters.sql.unit_of_work" in held}
            if len(served) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        # Deferred, not removed: the YAML document is still served, importing PyYAML on first use.
        schema = httpx.get(f"{server.base_url}/schema/openapi.yaml", timeout=30)
        assert schema.status_code == 200, schema.text
        assert "openapi: 3.1" in schema.text
    finally:
        server.stop()

    parent = modules.pop(server.pid)
    assert "alembic" in parent  # the parent migrated the fresh database ...
    assert len(served) == 2, sorted(modules)  # ... and both workers bootstrapped on it
    assert any("adapters.auth.jwt_tokens" in held for held in served.values())  # a worker verified the token
    for pid, held in served.items():
        tops = {name.partition(".")[0] for name in held}
        assert not tops & set(NEVER_IN_A_WORKER), (pid, sorted(tops & set(NEVER_IN_A_WORKER)))
        assert unused_imports(held) == [], pid  # the benchmark's list too (OpenTelemetry, Pillow, wsproto)
        assert "entrypoints.cli.main" not in held, pid  # spawn did not run the `checkout` script again
        # Litestar's module-level `import pdb` and `import yaml` bound stand-ins (deferred_imports)
        assert "bdb" not in held, pid
        assert "yaml.loader" not in held, pid


def test_head_revision_without_alembic_is_alembics() -> None:
    assert head_revision() == alembic_head()


def test_head_revision_follows_the_chain_of_scripts(tmp_path: Path) -> None:
    def script(name: str, revision: str, down: str) -> None:
        (tmp_path / name).write_text(f'"""A migration."""\nrevision: str = "{revision}"\ndown_revision = {down}\n')

    script("a.py", "0001", "None")
    script("c.py", "0003", '"0002"')
    script("b.py", "0002", '"0001"')
    (tmp_path / "helpers.py").write_text("X = 1\n")  # declares no revision: ignored
    assert head_revision(tmp_path) == "0003"

    script("d.py", "0004", '"0002"')  # a second branch from 0002: two heads
    with pytest.raises(RuntimeError, match="one head"):
        head_revision(tmp_path)
    script("e.py", "0005", '("0003", "0004")')  # a merge revision joins them
    assert head_revision(tmp_path) == "0005"
