"""``checkout info``: which data directory, database and code this CLI uses, without creating
anything (a command run from the wrong directory should be noticed, not met with an empty store)."""

from __future__ import annotations

import re

import click

from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.output import emit_json, fields, json_option
from entrypoints.observability import version as running

_PASSWORD = re.compile(r"(://[^:/@]+:)[^@]*@")


def masked_url(url: str) -> str:
    """A database URL with its password replaced by ``***``."""
    return _PASSWORD.sub(r"\1***@", url)


@click.command()
@json_option
@pass_state
def info(state: CliState, as_json: bool) -> None:
    """Show the version, the data directory and the database this CLI reads (creates nothing)."""
    settings = state.settings()
    data_dir = settings.data_dir.resolve()
    database = masked_url(settings.effective_database_url)
    exists = (data_dir / "checkout.sqlite3").exists() if settings.is_embedded_sqlite else None
    report = {
        "version": running.version(),
        "commit": running.commit(),
        "dataDir": str(data_dir),
        "dataDirExists": data_dir.is_dir(),
        "database": database,
        "embeddedDatabaseExists": exists,
        "paymentGateway": settings.payment_gateway,
        "signingProvider": settings.signing_provider,
    }
    if as_json:
        emit_json(report)
        return
    fields([(key, value) for key, value in report.items() if value is not None])
