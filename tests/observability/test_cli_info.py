"""``checkout info`` says where the CLI reads from, and creates nothing."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from entrypoints.cli.main import cli


def test_info_names_the_data_directory_and_database_without_creating_them(tmp_path: Path) -> None:
    data_dir = tmp_path / "nowhere"
    result = CliRunner().invoke(
        cli,
        ["info", "--json"],
        env={"CHECKOUT_DATA_DIR": str(data_dir), "CHECKOUT_DATABASE_URL": "postgresql://app:s3cret@db/checkout"},
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["dataDir"] == str(data_dir.resolve())
    assert report["dataDirExists"] is False
    assert report["database"] == "postgresql+psycopg://app:***@db/checkout"
    assert "s3cret" not in result.output
    assert not data_dir.exists()


def test_a_reading_command_refuses_to_invent_an_empty_store(tmp_path: Path) -> None:
    data_dir = tmp_path / "elsewhere"
    result = CliRunner().invoke(cli, ["reservations", "list"], env={"CHECKOUT_DATA_DIR": str(data_dir)})

    assert result.exit_code == 3
    assert f"no checkout database in {data_dir.resolve()}" in result.stderr
    assert "checkout info" in result.stderr
    assert not data_dir.exists()


def test_setting_up_creates_the_store_and_then_reading_works(tmp_path: Path) -> None:
    env = {"CHECKOUT_DATA_DIR": str(tmp_path / "data")}
    assert CliRunner().invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    listed = CliRunner().invoke(cli, ["reservations", "list"], env=env)

    assert listed.exit_code == 0, listed.output
