"""Settings are read from the environment, validated at start, and a bad value names its variable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.system.clock import FixedClock
from checkout_core.demo import load_demo
from checkout_core.usecases.context import Actor
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import bootstrap_in_memory
from entrypoints.cli.main import cli
from entrypoints.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHECKOUT_RESERVATION_HOLD_HOURS", "47"),
        ("CHECKOUT_RESERVATION_HOLD_HOURS", "73"),
        ("CHECKOUT_RESERVATION_HOLD_HOURS", "three days"),
        ("CHECKOUT_MAX_ACTIVE_RESERVATIONS", "0"),
        ("CHECKOUT_RETURN_WINDOW_DAYS", "-1"),
        ("CHECKOUT_DATABASE_URL", "mysql://root@localhost/db"),
        ("CHECKOUT_PUBLIC_URL", "ftp://example.com"),
        ("CHECKOUT_PAYMENT_GATEWAY", "paypal"),
        ("CHECKOUT_SIGNING_PROVIDER", "docusign-by-fax"),
        ("CHECKOUT_JWT_SECRET", "too-short"),
        ("CHECKOUT_LOG_LEVEL", "LOUD"),
        ("DROPBOX_SIGN_TEST_MODE", "maybe"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})


def test_stripe_and_dropbox_sign_need_their_keys() -> None:
    with pytest.raises(SettingsError, match="STRIPE_API_KEY"):
        load_settings({"CHECKOUT_PAYMENT_GATEWAY": "stripe"})
    with pytest.raises(SettingsError, match="DROPBOX_SIGN_API_KEY"):
        load_settings({"CHECKOUT_SIGNING_PROVIDER": "dropbox_sign"})


def test_no_configuration_is_the_embedded_default(tmp_path: Path) -> None:
    settings = load_settings({"CHECKOUT_DATA_DIR": str(tmp_path)})
    assert settings.is_embedded_sqlite
    assert settings.effective_database_url == f"sqlite:///{(tmp_path / 'checkout.sqlite3').resolve()}"
    assert (settings.payment_gateway, settings.signing_provider, settings.hold_hours) == ("sandbox", "builtin", 72)


def test_the_hold_length_setting_reaches_the_reservation(clock: FixedClock) -> None:
    settings = load_settings({"CHECKOUT_RESERVATION_HOLD_HOURS": "48", "CHECKOUT_JWT_SECRET": "s" * 40})
    app = bootstrap_in_memory(clock=clock, settings=settings)
    load_demo(app.ctx.uow)
    held = reserve_vehicle(app.ctx, Actor("cus_demo"), vehicle_id="veh_abc123", payment_token="tok_visa")
    assert held.reservation.expires_at == clock.now() + timedelta(hours=48)


def test_the_cli_stops_on_a_bad_setting_naming_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["vehicles", "list"],
        env={"CHECKOUT_DATA_DIR": str(tmp_path), "CHECKOUT_RESERVATION_HOLD_HOURS": "96"},
    )
    assert result.exit_code == 2
    assert "CHECKOUT_RESERVATION_HOLD_HOURS" in result.output


def test_concurrent_first_starts_agree_on_the_local_jwt_secret(tmp_path: Path) -> None:
    """Processes starting together on a fresh data directory (serve + tokens issue) must not
    each keep a secret of their own: a token from one would be refused by the other."""
    from concurrent.futures import ThreadPoolExecutor

    from entrypoints.bootstrap import _local_secret

    for attempt in range(20):
        folder = tmp_path / str(attempt)
        with ThreadPoolExecutor(8) as pool:
            seen = set(pool.map(lambda f: _local_secret(f, "jwt-secret"), [folder] * 8))
        assert len(seen) == 1
        assert [p.name for p in folder.iterdir()] == ["jwt-secret"]


def test_the_defaults_are_the_cores_business_defaults() -> None:
    from checkout_core.usecases.context import Policy

    policy, settings = Policy(), load_settings({})
    assert settings.hold_hours == policy.hold_hours
    assert settings.admin_fee_cents == policy.fees.admin_fee.cents
    assert settings.documentation_fee_cents == policy.fees.documentation_fee.cents
    assert settings.card_payment_limit_cents == policy.card_payment_limit.cents
    assert settings.return_window_days == policy.return_window.days
    assert settings.recovery_grace_seconds == policy.recovery_grace.total_seconds()
    assert (settings.bank_account_number, settings.bank_swift, settings.bank_due_days) == (
        policy.bank.account_number,
        policy.bank.swift,
        policy.bank.due_days,
    )
    assert (settings.dealer_name, settings.dealer_registration) == (
        policy.dealer.name,
        policy.dealer.registration_number,
    )
