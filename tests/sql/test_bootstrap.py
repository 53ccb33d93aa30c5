"""The composition root on the SQL adapter: ``bootstrap`` migrates the database itself and the
spec's purchase runs through it, on the embedded SQLite default and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.sql.engine import make_engine
from adapters.sql.migrations import current_revision, head_revision
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.model.order import OrderStatus
from checkout_core.usecases.context import Actor
from checkout_core.usecases.order_view import order_details
from checkout_core.usecases.orders import place_order
from checkout_core.usecases.reservations import get_reservation, reserve_vehicle
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings
from tests.core.spec_example import spec_order
from tests.postgres import postgres_database

JOHN = Actor("cus_demo")


@pytest.fixture(params=["embedded-sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """ "" (the embedded SQLite file in the data directory) or a fresh PostgreSQL database."""
    if request.param == "embedded-sqlite":
        yield ""
        return
    with postgres_database() as url:
        yield url


def test_bootstrap_migrates_and_runs_the_purchase(database_url: str, tmp_path: Path, clock: FixedClock) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        jwt_secret="bootstrap-test-" + "x" * 32,
        environment="development",  # the sandbox gateway and local documents on PostgreSQL too
    )
    app = bootstrap(settings, clock=clock, ids=SequentialIds())
    try:
        app.check_database()
        load_demo(app.ctx.uow)
        reservation = reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
        order = place_order(app.ctx, JOHN, spec_order(reservation.id))
        shown = order_details(app.ctx, JOHN, order.id)
        assert shown.order.status is OrderStatus.PENDING_DOCUMENTS
        assert shown.order.pricing.total_due.cents == 1994224
        assert get_reservation(app.ctx, JOHN, reservation.id).reservation.order_id == order.id
    finally:
        app.close()
    if not database_url:
        assert (tmp_path / "checkout.sqlite3").exists()
    engine = make_engine(settings.effective_database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
