"""Rate limits hold across API processes: two ``checkout serve`` processes on one PostgreSQL
database and one Redis (a key prefix of this test's own) count as one.

* A card tester's declines, sent alternately to both processes, hit 429 ``too_many_attempts``
  at the same total count as on one process (the sixth attempt, whichever process gets it),
  before the gateway is called: no sixth reservation, no sixth charge; and the alert
  ``CardTestingSuspected`` is stored exactly once.
* Bad tokens from one client address (``X-Forwarded-For`` from 127.0.0.1, which uvicorn
  trusts by default, stands for clients behind a proxy) are counted across both processes, and
  another address is not affected.

With per-process counters each process would have allowed its own five declines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.http_load import JWT_SECRET, Customers, idempotency_key
from bench.seed import prepare_database
from bench.servers import ManagedProcess, checkout_env, checkout_server
from sqlalchemy import func, select

from adapters.sql import tables
from adapters.sql.engine import make_engine
from tests.postgres import postgres_database
from tests.redis_server import redis_prefix, redis_url  # noqa: F401 - fixtures

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(150)]


@pytest.fixture
def database() -> Iterator[tuple[str, list[str]]]:
    with postgres_database() as url:
        yield url, prepare_database(url, vehicles=4)


def test_two_api_processes_share_one_limit(
    tmp_path: Path,
    database: tuple[str, list[str]],
    redis_url: str,  # noqa: F811
    redis_prefix: str,  # noqa: F811
    processes: list[ManagedProcess],
) -> None:
    url, cars = database
    env = checkout_env(
        database_url=url,
        data_dir=tmp_path / "data",
        jwt_secret=JWT_SECRET,
        extra={
            "CHECKOUT_RATE_LIMIT_STORE": "redis",
            "CHECKOUT_REDIS_URL": redis_url,
            "CHECKOUT_REDIS_KEY_PREFIX": redis_prefix,
            "CHECKOUT_RATE_LIMIT_DECLINES_PER_CUSTOMER": "5/1h",
            "CHECKOUT_RATE_LIMIT_BAD_TOKENS_PER_IP": "6/1m",
        },
    )
    apis = [checkout_server(f"api-{n}", env, tmp_path) for n in (1, 2)]
    processes += [api.launch() for api in apis]
    for api in apis:
        api.wait_ready(timeout=90)
    bases = [api.base_url for api in apis]
    customers = Customers("rl")
    tester = customers.new()

    with httpx.Client(timeout=30) as http:

        def reserve(n: int, token: str) -> httpx.Response:
            return http.post(
                f"{bases[n % 2]}/api/v1/reservations",
                json={"vehicleId": cars[0], "paymentMethod": {"type": "card", "token": token}},
                headers={**customers.auth(tester), "Idempotency-Key": idempotency_key()},
            )

        statuses = [reserve(n, "tok_chargeDeclined").status_code for n in range(5)]
        assert statuses == [402] * 5, [api.log_tail() for api in apis]
        for n in (5, 6):  # the sixth and seventh attempts, one on each process
            refused = reserve(n, "tok_visa")
            assert refused.status_code == 429, refused.text
            assert refused.json()["code"] == "too_many_attempts"
            assert 3500 < int(refused.headers["Retry-After"]) <= 3600

        def bad_token(n: int, address: str) -> int:
            return http.get(
                f"{bases[n % 2]}/api/v1/reservations",
                headers={"Authorization": f"Bearer forged-{n}", "X-Forwarded-For": address},
            ).status_code

        assert [bad_token(n, "203.0.113.50") for n in range(6)] == [401] * 6
        assert [bad_token(n, "203.0.113.50") for n in (6, 7)] == [429, 429]
        assert bad_token(8, "203.0.113.51") == 401

    engine = make_engine(url, pool_size=1)
    try:
        r, ob = tables.reservations, tables.outbox
        with engine.connect() as connection:
            made = connection.execute(select(func.count()).where(r.c.customer_id == tester)).scalar_one()
            alerts = connection.execute(
                select(func.count()).where(ob.c.aggregate_id == tester, ob.c.name == "CardTestingSuspected")
            ).scalar_one()
    finally:
        engine.dispose()
    assert made == 5  # the refused attempts claimed nothing and charged nothing
    assert alerts == 1
