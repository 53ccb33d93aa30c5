"""Rate limits through the core's use cases (library callers get the same limits as HTTP):
card testing stopped before the gateway, attempts per customer and per address, uploads and
signing requests — and the RateLimiter port's contract, on the in-process store and on Redis."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from adapters.memory.rate_limits import MemoryRateLimiter
from adapters.redis.rate_limits import RedisRateLimiter
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.errors import PaymentDeclined, TooManyAttempts
from checkout_core.money import Money
from checkout_core.ports.rate_limits import RateLimiter
from checkout_core.usecases.context import Actor, Policy, Role
from checkout_core.usecases.order_payments import pay_by_card
from checkout_core.usecases.orders import place_order, start_signing, submit_insurance
from checkout_core.usecases.rate_limits import Rate, RateLimits, customer_alerts
from checkout_core.usecases.reservations import cancel_reservation, reserve_vehicle
from entrypoints.bootstrap import App, bootstrap_in_memory
from tests.core.spec_example import cash_order
from tests.http.gateways import SpyGateway
from tests.redis_server import redis_prefix, redis_url  # noqa: F401 - fixtures

JOHN = Actor("cus_demo", client_ip="203.0.113.7")
ADVISOR = Actor("adv_sarah", Role.ADVISOR)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
DECLINED = "tok_chargeDeclined"


@pytest.fixture
def spy(clock: FixedClock) -> SpyGateway:
    return SpyGateway(clock)


def _app(clock: FixedClock, spy: SpyGateway, **limits: Rate) -> App:
    policy = Policy(rate_limits=attrs.evolve(RateLimits(), **limits))
    app = bootstrap_in_memory(clock=clock, ids=SequentialIds(), gateway=spy, policy=policy)
    load_demo(app.ctx.uow)
    return app


@pytest.fixture
def app(clock: FixedClock, spy: SpyGateway) -> Iterator[App]:
    app = _app(clock, spy)
    yield app
    app.close()


def _decline(app: App, actor: Actor, vehicle: str = "veh_abc123") -> None:
    with pytest.raises(PaymentDeclined):
        reserve_vehicle(app.ctx, actor, vehicle_id=vehicle, payment_token=DECLINED)


# -- card testing -------------------------------------------------------------------------------


def test_after_five_declines_the_sixth_attempt_is_refused_before_the_gateway(
    app: App, spy: SpyGateway, clock: FixedClock
) -> None:
    for _ in range(5):
        _decline(app, JOHN)
    assert spy.charges == 5

    with pytest.raises(TooManyAttempts) as caught:
        reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa")
    assert spy.charges == 5  # the gateway was not called
    assert caught.value.code == "too_many_attempts"
    assert 3500 < caught.value.retry_after <= 3600

    # Advisors see it: one CardTestingSuspected, stored under the customer.
    alerts = customer_alerts(app.ctx, ADVISOR, JOHN.id)
    assert [a.name for a in alerts] == ["CardTestingSuspected"]
    assert alerts[0].payload["subject"] == "customer"
    assert alerts[0].payload["declines"] == 5
    assert alerts[0].payload["windowSeconds"] == 3600
    assert alerts[0].payload["clientIp"] == "203.0.113.7"

    # An hour after the first decline the window has room again.
    clock.advance(timedelta(hours=1))
    assert reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").deposit is not None
    assert spy.charges == 6


def test_declines_from_one_address_are_limited_across_customers(app: App, spy: SpyGateway) -> None:
    shoppers = [Actor(f"cus_tester{n}", client_ip="198.51.100.9") for n in range(11)]
    for shopper in shoppers[:10]:
        _decline(app, shopper)
    with pytest.raises(TooManyAttempts):
        reserve_vehicle(app.ctx, shoppers[10], vehicle_id="veh_abc123", payment_token="tok_visa")
    assert spy.charges == 10
    # Another address is not affected, and the alert names the address.
    reserve_vehicle(
        app.ctx, Actor("cus_elsewhere", client_ip="192.0.2.1"), vehicle_id="veh_abc123", payment_token="tok_visa"
    )
    alerts = customer_alerts(app.ctx, ADVISOR, "cus_tester9")
    assert [(a.payload["subject"], a.payload["clientIp"]) for a in alerts] == [("ip", "198.51.100.9")]


def test_card_payments_count_as_declines_and_are_refused_at_the_limit(app: App, spy: SpyGateway) -> None:
    reservation = reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    order = place_order(app.ctx, JOHN, cash_order(reservation.id, "veh_abc123"))
    for _ in range(5):
        with pytest.raises(PaymentDeclined):
            pay_by_card(app.ctx, JOHN, order.id, token=DECLINED, amount=Money(1000))
    charges = spy.charges
    with pytest.raises(TooManyAttempts):
        pay_by_card(app.ctx, JOHN, order.id, token="tok_visa", amount=Money(1000))
    assert spy.charges == charges


def test_reservation_attempts_are_limited_per_customer(app: App, spy: SpyGateway) -> None:
    for _ in range(10):
        held = reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa")
        cancel_reservation(app.ctx, JOHN, held.reservation.id)
    with pytest.raises(TooManyAttempts) as caught:
        reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa")
    assert caught.value.retry_after <= 600
    assert spy.charges == 10


def test_reservation_attempts_are_limited_per_address(clock: FixedClock, spy: SpyGateway) -> None:
    app = _app(clock, spy, reservations_per_ip=Rate(3, timedelta(minutes=10)))
    for n in range(3):
        reserve_vehicle(
            app.ctx,
            Actor(f"cus_{n}", client_ip="192.0.2.5"),
            vehicle_id=f"veh_demo{n + 1:03d}",
            payment_token="tok_visa",
        )
    with pytest.raises(TooManyAttempts):
        reserve_vehicle(
            app.ctx, Actor("cus_3", client_ip="192.0.2.5"), vehicle_id="veh_abc123", payment_token="tok_visa"
        )
    # Library and CLI callers have no address: only the per-customer limits apply to them.
    reserve_vehicle(app.ctx, Actor("cus_4"), vehicle_id="veh_abc123", payment_token="tok_visa")


def test_a_limit_of_zero_switches_it_off_and_advisors_are_not_limited(clock: FixedClock, spy: SpyGateway) -> None:
    app = _app(
        clock, spy, declines_per_customer=Rate(0, timedelta(hours=1)), declines_per_ip=Rate(0, timedelta(hours=1))
    )
    for _ in range(8):
        _decline(app, JOHN)
    assert spy.charges == 8
    assert customer_alerts(app.ctx, ADVISOR, JOHN.id) == []
    with pytest.raises(Exception, match="advisors only"):
        customer_alerts(app.ctx, JOHN, JOHN.id)


def test_uploads_and_signing_requests_are_limited_per_customer(clock: FixedClock, spy: SpyGateway) -> None:
    app = _app(
        clock,
        spy,
        insurance_uploads_per_customer=Rate(2, timedelta(hours=1)),
        signing_requests_per_customer=Rate(3, timedelta(hours=1)),
    )
    reservation = reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    order = place_order(app.ctx, JOHN, cash_order(reservation.id, "veh_abc123"))
    for _ in range(3):
        start_signing(app.ctx, JOHN, order.id)
    with pytest.raises(TooManyAttempts):
        start_signing(app.ctx, JOHN, order.id)
    start_signing(app.ctx, ADVISOR, order.id)  # advisors are not limited
    for n in range(2):
        submit_insurance(app.ctx, JOHN, order.id, content=PDF, policy_number=f"POL-{n}", provider="Intact")
    with pytest.raises(TooManyAttempts):
        submit_insurance(app.ctx, JOHN, order.id, content=PDF, policy_number="POL-9", provider="Intact")
    clock.advance(timedelta(hours=1, seconds=1))
    submit_insurance(app.ctx, JOHN, order.id, content=PDF, policy_number="POL-10", provider="Intact")


# -- the port's contract, on both stores ------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest) -> Iterator[RateLimiter]:
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    store = RedisRateLimiter.from_url(url, prefix=prefix)
    yield store
    store.close()


T0 = datetime(2025, 12, 23, 10, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_a_sliding_window_allows_the_limit_and_says_when_to_retry(limiter: RateLimiter) -> None:
    for n in range(3):
        decision = limiter.hit("k", 3, MINUTE, T0 + timedelta(seconds=10 * n))
        assert (decision.allowed, decision.count) == (True, n + 1)
    refused = limiter.hit("k", 3, MINUTE, T0 + timedelta(seconds=25))
    assert (refused.allowed, refused.count, refused.retry_after) == (False, 3, 35)
    # A refused hit is not counted; peeking counts nothing.
    assert limiter.peek("k", 3, MINUTE, T0 + timedelta(seconds=30)).allowed is False
    # The first hit leaves the window at T0 + 60 s: one more is allowed, not two.
    assert limiter.peek("k", 3, MINUTE, T0 + timedelta(seconds=60)).allowed is True
    assert limiter.hit("k", 3, MINUTE, T0 + timedelta(seconds=60)).allowed is True
    assert limiter.hit("k", 3, MINUTE, T0 + timedelta(seconds=61)).allowed is False
    # Keys are independent.
    assert limiter.hit("other", 3, MINUTE, T0).count == 1


def test_concurrent_hits_never_allow_more_than_the_limit(limiter: RateLimiter) -> None:
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            decision = limiter.hit("race", 40, MINUTE, T0)
            with lock:
                allowed.append(decision.allowed)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 40


def test_two_redis_clients_share_their_counts(redis_url: str, redis_prefix: str) -> None:  # noqa: F811
    first = RedisRateLimiter.from_url(redis_url, prefix=redis_prefix)
    second = RedisRateLimiter.from_url(redis_url, prefix=redis_prefix)
    try:
        assert first.hit("shared", 2, MINUTE, T0).allowed
        assert second.hit("shared", 2, MINUTE, T0).allowed
        assert not first.hit("shared", 2, MINUTE, T0).allowed
        assert not second.peek("shared", 2, MINUTE, T0).allowed
    finally:
        first.close()
        second.close()


def test_an_unreachable_redis_lets_attempts_through_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    store = RedisRateLimiter.from_url("redis://127.0.0.1:9/0", timeout=0.2)
    try:
        with caplog.at_level("ERROR", logger="checkout.rate_limits"):
            assert store.hit("k", 1, MINUTE, T0).allowed
            assert store.hit("k", 1, MINUTE, T0).allowed
        assert [r.getMessage() for r in caplog.records].count(
            "rate limits are not enforced: Redis cannot be reached (ConnectionError)"
        ) == 1
    finally:
        store.close()
