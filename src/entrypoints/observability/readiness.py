"""Readiness: named checks of what a process needs (the database, the schema at head, and for
a job worker the broker or gateway it uses), each answered ``ok`` or with why not.

Only the kind of failure is reported, never the exception's text: driver messages can carry
connection strings and passwords."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from entrypoints.bootstrap import App
from entrypoints.settings import Settings

log = logging.getLogger("checkout.ready")

Check = Callable[[], None]


def schema_check(app: App) -> Check | None:
    """Raises unless the database's schema revision is the code's head (None in memory)."""
    revisions = app.schema_revisions
    if revisions is None:
        return None

    def check() -> None:
        current, head = revisions()
        if current != head:
            raise SchemaBehind(f"schema at {current or 'nothing'}, code expects {head}")

    return check


class SchemaBehind(Exception):
    """The database has not been migrated to the code's head revision."""


def app_checks(app: App) -> dict[str, Check]:
    """The checks every process of ``app`` needs: the database, and its schema."""
    checks: dict[str, Check] = {"database": app.check_database}
    schema = schema_check(app)
    if schema is not None:
        checks["schema"] = schema
    return checks


def reachable(url: str, default_port: int, timeout: float = 2.0) -> Check:
    """A check that a TCP connection to ``url``'s host and port opens (no credentials are sent:
    readiness must not depend on, or reveal, a secret)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port

    def check() -> None:
        with socket.create_connection((host, port), timeout=timeout):
            pass

    return check


#: The outside service each worker needs, by command: the broker for the relay, the payment
#: gateway for the jobs that charge or refund (the sandbox lives in the data directory).
JOB_DEPENDENCIES: Mapping[str, str] = {
    "events relay": "broker",
    "reservations expire": "gateway",
    "reservations recover": "gateway",
    "payments recover": "gateway",
    "payments reconcile": "gateway",
    "orders cancel-due": "gateway",
}


def job_checks(job: str, settings: Settings) -> dict[str, Check]:
    """The broker or gateway check of a worker running ``job`` (none for the others)."""
    needs = JOB_DEPENDENCIES.get(job)
    if needs == "broker":
        return {"broker": reachable(settings.nats_url, 4222)}
    if needs == "gateway" and settings.payment_gateway == "stripe":
        return {"gateway": reachable(settings.stripe_api_base or "https://api.stripe.com", 443)}
    if needs == "gateway":
        data_dir = settings.data_dir

        def sandbox() -> None:
            if not data_dir.is_dir():
                raise FileNotFoundError("the sandbox gateway's data directory is missing")

        return {"gateway": sandbox}
    return {}


def run_checks(checks: Mapping[str, Check]) -> tuple[bool, dict[str, str]]:
    """(all ok, name → ``ok`` or the failure's kind). Stops at nothing: every check is reported."""
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
        except SchemaBehind as behind:
            results[name] = str(behind)
        except Exception as error:
            log.warning("readiness check %s failed (%s)", name, type(error).__name__)
            results[name] = f"failed ({type(error).__name__})"
        else:
            results[name] = "ok"
    return all(value == "ok" for value in results.values()), results
