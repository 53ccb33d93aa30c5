"""Fixtures of the payment tests: one isolated localstripe per session, the Stripe adapter on it,
and whole in-memory apps whose gateway is that adapter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from adapters.payments.stripe_gateway import StripeGateway
from adapters.system.clock import FixedClock
from adapters.system.ids import RandomIds
from checkout_core.demo import load_demo
from entrypoints.bootstrap import App, bootstrap_in_memory
from tests.payments.http_stub import LosingProxy
from tests.payments.localstripe_process import API_KEY, flush, run_localstripe


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A localstripe of our own for the whole session (state file in a temp dir, see
    tests/payments/localstripe_process.py); stopped at the end."""
    with run_localstripe(tmp_path_factory.mktemp("localstripe")) as url:
        yield url


@pytest.fixture
def fresh_localstripe(localstripe_url: str) -> str:
    """The session's localstripe emptied first (for tests that list everything in a window)."""
    flush(localstripe_url)
    return localstripe_url


def make_gateway(api_base: str, *, max_network_retries: int = 1, emulator: bool | None = None) -> StripeGateway:
    """The real adapter on ``api_base``; one SDK retry keeps failure tests quick."""
    return StripeGateway(API_KEY, api_base, max_network_retries=max_network_retries, emulator=emulator)


@pytest.fixture
def stripe_gateway(localstripe_url: str) -> StripeGateway:
    """:class:`StripeGateway` with the real SDK, talking to localstripe."""
    return make_gateway(localstripe_url)


@pytest.fixture
def real_clock() -> FixedClock:
    """A settable clock starting at the real time: localstripe stamps objects with the real
    time, so ledger and gateway must agree on the date; tests can still jump past a grace."""
    return FixedClock(datetime.now(UTC))


def stripe_app(gateway: StripeGateway, clock: FixedClock) -> App:
    """The whole core in memory with ``gateway``, demo data loaded. Random ids: every test's
    ledger ids and idempotency keys are unique in the shared emulator."""
    app = bootstrap_in_memory(gateway=gateway, clock=clock, ids=RandomIds())
    load_demo(app.ctx.uow)
    return app


@pytest.fixture
def stripe_memory_app(stripe_gateway: StripeGateway, real_clock: FixedClock) -> Iterator[App]:
    """``bootstrap_in_memory(gateway=StripeGateway(...))`` with the demo data."""
    app = stripe_app(stripe_gateway, real_clock)
    yield app
    app.close()


@pytest.fixture
def losing_proxy(localstripe_url: str) -> Iterator[LosingProxy]:
    """A proxy to localstripe that loses the answer to the first PaymentIntent creation."""
    proxy = LosingProxy(localstripe_url)
    yield proxy
    proxy.close()
