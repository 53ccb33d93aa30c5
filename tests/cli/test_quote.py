"""``checkout quote``: the spec's pricing example and its input checks (no App needed)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from entrypoints.cli.main import cli
from tests.cli.conftest import out_json


def test_spec_example_json() -> None:
    result = CliRunner().invoke(
        cli, ["quote", "--price", "2499900", "--province", "ON", "--trade-in", "800000", "--json"]
    )
    pricing = out_json(result)
    assert (pricing["subtotal"], pricing["taxAmount"], pricing["totalDue"]) == (1764800, 229424, 1994224)
    assert pricing["taxRate"] == 0.13


def test_spec_example_table() -> None:
    result = CliRunner().invoke(cli, ["quote", "--price", "2499900", "--province", "ON", "--trade-in", "800000"])
    assert result.exit_code == 0
    assert "$19,942.24" in result.stdout
    assert "HST 13%" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--price", "2499900", "--province", "XX"],
        ["--price", "-1", "--province", "ON"],
        ["--price", "2499900", "--province", "ON", "--trade-in", "-5"],
        ["--price", "2499900", "--province", "ON", "--trade-in", "2600000"],
        ["--price", "abc", "--province", "ON"],
    ],
)
def test_bad_input_is_refused(args: list[str]) -> None:
    result = CliRunner().invoke(cli, ["quote", *args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "error" in result.stderr.lower()


def test_a_licence_and_plate_fee_from_the_settings_is_added_after_the_tax() -> None:
    args = ["quote", "--price", "2499900", "--province", "ON", "--trade-in", "800000"]
    result = CliRunner().invoke(cli, [*args, "--json"], env={"CHECKOUT_LICENCE_FEE_CENTS": "5900"})
    pricing = out_json(result)
    assert (pricing["taxAmount"], pricing["licenceFee"], pricing["totalDue"]) == (229424, 5900, 1994224 + 5900)
    table = CliRunner().invoke(cli, args, env={"CHECKOUT_LICENCE_FEE_CENTS": "5900"})
    assert "Licence and plate fee" in table.stdout and "$59.00" in table.stdout and "$20,001.24" in table.stdout


@pytest.mark.parametrize("value", ["-1", "abc", "1000001"])
def test_a_bad_licence_fee_setting_is_refused(value: str) -> None:
    result = CliRunner().invoke(
        cli, ["quote", "--price", "100", "--province", "ON"], env={"CHECKOUT_LICENCE_FEE_CENTS": value}
    )
    assert result.exit_code != 0 and "CHECKOUT_LICENCE_FEE_CENTS" in result.output, result.output
