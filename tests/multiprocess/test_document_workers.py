"""Document workers as separate processes: two ``checkout serve`` processes place orders with
``CHECKOUT_AGREEMENTS=worker`` while two ``checkout documents generate --loop`` processes render
the agreements, all on one PostgreSQL database and one data directory. Every order ends with
exactly one agreement — in its documents, in the outbox and on disk — whichever worker (or
neither, for an order whose buyer opened the signing envelope first) rendered it."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from bench.http_load import JWT_SECRET, Customers, order_call, reservation_call
from bench.load import run_load
from bench.seed import prepare_database
from bench.servers import ManagedProcess, checkout_env, checkout_job, checkout_server
from sqlalchemy import func, select

from adapters.sql import tables
from adapters.sql.engine import make_engine
from tests.multiprocess.conftest import pass_results, spread
from tests.postgres import postgres_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(150)]

ORDERS = 24
GENERATE = ["documents", "generate", "--loop", "--interval", "0.1", "--batch-size", "2", "--json"]


def _generated(worker: ManagedProcess) -> int:
    return sum(int(result["generated"]) for result in pass_results(worker, "generated"))


def test_two_document_workers_render_each_agreement_exactly_once(
    tmp_path: Path, processes: list[ManagedProcess]
) -> None:
    with postgres_database() as url:
        cars = prepare_database(url, vehicles=ORDERS)
        env = {
            **checkout_env(database_url=url, data_dir=tmp_path / "data", jwt_secret=JWT_SECRET),
            "CHECKOUT_AGREEMENTS": "worker",
        }
        apis = [checkout_server(f"api-{n}", env, tmp_path) for n in (1, 2)]
        workers = [checkout_job(f"documents-{n}", GENERATE, env, tmp_path) for n in (1, 2)]
        processes += [p.launch() for p in [*apis, *workers]]
        for api in apis:
            api.wait_ready(timeout=90)
        bases = [api.base_url for api in apis]
        customers = Customers("dw")

        held = run_load(
            bases,
            spread([reservation_call(customers, car) for car in cars]),
            clients=8,
            keep_body=lambda c, s: s == 201,
        )
        assert held.statuses[201] == ORDERS, held.status_summary()
        calls = [order_call(customers, o.body["reservationId"], *o.call.tag) for o in held.outcomes]
        placed = run_load(bases, spread(calls), clients=8, keep_body=lambda c, s: s == 201)
        assert placed.statuses[201] == ORDERS, placed.status_summary()
        orders = {o.body["orderId"]: o.call.tag for o in placed.outcomes}
        # Two buyers open their signing envelope at once, maybe before any worker got to them.
        signing = list(orders.items())[:2]
        for order_id, customer in signing:
            link = httpx.post(
                f"{bases[0]}/api/v1/orders/{order_id}/documents/sign", headers=customers.auth(customer), timeout=30
            )
            assert link.status_code == 200, link.text

        engine = make_engine(url, pool_size=1)
        try:
            o, ob = tables.orders, tables.outbox
            deadline = time.monotonic() + 60
            with engine.connect() as connection:
                while connection.execute(select(func.count()).where(o.c.awaits_agreement)).scalar_one():
                    connection.rollback()
                    assert time.monotonic() < deadline, [w.log_tail() for w in workers]
                    time.sleep(0.1)
                documents = dict(connection.execute(select(o.c.id, o.c.documents)).all())
                generated = Counter(
                    connection.execute(
                        select(ob.c.aggregate_id).where(ob.c.name == "PurchaseAgreementGenerated")
                    ).scalars()
                )
        finally:
            engine.dispose()
        signed_first = signing[0]
        view = httpx.get(
            f"{bases[1]}/api/v1/orders/{signed_first[0]}", headers=customers.auth(signed_first[1]), timeout=30
        )

    assert set(documents) == set(orders)
    assert generated == Counter(dict.fromkeys(orders, 1))
    for order_id, docs in documents.items():
        agreements = [d for d in docs if d["kind"] == "purchase_agreement"]
        assert len(agreements) == 1, (order_id, docs)
        key = agreements[0]["storage_key"]
        stored = tmp_path / "data" / "documents" / key[:2] / key[2:4] / key
        assert stored.read_bytes().startswith(b"%PDF-")
    by_workers = sum(_generated(w) for w in workers)
    assert ORDERS - len(signing) <= by_workers <= ORDERS  # the signing buyers may have rendered theirs
    assert view.status_code == 200, view.text
    assert [(d["type"], d["status"]) for d in view.json()["documents"]] == [("purchase_agreement", "generated")]
