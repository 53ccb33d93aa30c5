"""The rate limit settings: limits as COUNT/WINDOW, the store, and what bootstrap wires."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from adapters.memory.rate_limits import MemoryRateLimiter
from adapters.redis.rate_limits import RedisRateLimiter
from checkout_core.usecases.rate_limits import Limit, Rate, RateLimits
from entrypoints.bootstrap import bootstrap, policy_from
from entrypoints.settings import (
    RATE_LIMIT_VARIABLES,
    Settings,
    SettingsError,
    load_settings,
    require_shared_rate_limits,
)
from tests.redis_server import redis_prefix, redis_url  # noqa: F401 - fixtures


def test_every_limit_has_its_variable() -> None:
    assert sorted(RATE_LIMIT_VARIABLES.values()) == sorted(limit.value for limit in Limit)


def test_limits_are_read_as_count_per_window() -> None:
    settings = load_settings(
        {
            "CHECKOUT_RATE_LIMIT_DECLINES_PER_CUSTOMER": "3/2h",
            "CHECKOUT_RATE_LIMIT_RESERVATIONS_PER_IP": "off",
            "CHECKOUT_RATE_LIMIT_BAD_TOKENS_PER_IP": "100 / 30s",
            "CHECKOUT_RATE_LIMIT_SIGNING_REQUESTS_PER_CUSTOMER": "7/d",
            "CHECKOUT_MAX_INSURANCE_PROOFS": "3",
            "CHECKOUT_MAX_IMAGE_PIXELS": "1000000",
        }
    )
    limits = policy_from(settings).rate_limits
    assert limits.declines_per_customer == Rate(3, timedelta(hours=2))
    assert not limits.reservations_per_ip.enabled
    assert limits.bad_tokens_per_ip == Rate(100, timedelta(seconds=30))
    assert limits.signing_requests_per_customer == Rate(7, timedelta(days=1))
    assert limits.declines_per_ip == RateLimits().declines_per_ip  # untouched: the default
    policy = policy_from(settings)
    assert (policy.max_insurance_proofs, policy.max_image_pixels) == (3, 1_000_000)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHECKOUT_RATE_LIMIT_DECLINES_PER_CUSTOMER", "five per hour"),
        ("CHECKOUT_RATE_LIMIT_DECLINES_PER_CUSTOMER", "5/0s"),
        ("CHECKOUT_RATE_LIMIT_DECLINES_PER_CUSTOMER", "5/8d"),
        ("CHECKOUT_RATE_LIMIT_STORE", "postgres"),
        ("CHECKOUT_RATE_LIMIT_STORE", "redis"),  # without a URL
        ("CHECKOUT_REDIS_URL", "http://127.0.0.1:6379"),
        ("CHECKOUT_MAX_INSURANCE_PROOFS", "0"),
        ("CHECKOUT_MAX_IMAGE_PIXELS", "12"),
    ],
)
def test_bad_values_name_their_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})


def test_the_store_is_redis_when_a_url_is_set_and_api_processes_refuse_unshared_limits_on_postgres() -> None:
    assert load_settings({}).effective_rate_limit_store == "memory"
    require_shared_rate_limits(load_settings({}))  # the embedded default needs nothing
    assert load_settings({"CHECKOUT_REDIS_URL": "redis://h:6379/0"}).effective_rate_limit_store == "redis"
    postgres = {"CHECKOUT_DATABASE_URL": "postgresql://u@h/db"}
    with pytest.raises(SettingsError, match="CHECKOUT_REDIS_URL"):
        require_shared_rate_limits(load_settings(postgres))
    require_shared_rate_limits(load_settings({**postgres, "CHECKOUT_REDIS_URL": "redis://h:6379/0"}))
    require_shared_rate_limits(load_settings({**postgres, "CHECKOUT_RATE_LIMIT_STORE": "memory"}))


def test_the_redis_url_is_not_in_the_settings_repr() -> None:
    assert "s3cret" not in repr(load_settings({"CHECKOUT_REDIS_URL": "redis://:s3cret@h:6379/0"}))


def test_bootstrap_wires_the_store(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:  # noqa: F811
    embedded = bootstrap(Settings(data_dir=tmp_path / "a"))
    try:
        assert isinstance(embedded.ctx.rate_limiter, MemoryRateLimiter)
    finally:
        embedded.close()
    shared = bootstrap(Settings(data_dir=tmp_path / "b", redis_url=redis_url, redis_key_prefix=redis_prefix))
    try:
        assert isinstance(shared.ctx.rate_limiter, RedisRateLimiter)
        assert shared.ctx.rate_limiter.ping()
    finally:
        shared.close()
