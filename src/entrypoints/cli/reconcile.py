"""``checkout payments reconcile``: our ledger against the payment gateway for a period of days.

Registered into the ``payments`` group from ``main.COMMANDS``. Exit 0 when everything matched,
1 (``EXIT_FINDINGS``) when anything did not, so a scheduled run can alert on its exit status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import click

from checkout_core.ports.payments import GatewayRecord
from checkout_core.usecases.ledger_audit import audit_ledger
from checkout_core.usecases.reconciliation import (
    LedgerEntry,
    Pair,
    ReconciliationReport,
    period_of_days,
    reconcile_payments,
)
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.output import (
    EXIT_FINDINGS,
    domain_errors,
    emit_json,
    heading,
    json_option,
    money,
    progress_callback,
    table,
    when,
)
from entrypoints.cli.recovery import print_audit
from entrypoints.views import audit_report_to_dict, reconciliation_to_dict

_DAY = click.DateTime(["%Y-%m-%d"])

#: (title, what it means) per discrepancy bucket, in report order.
_BUCKET_TITLES = {
    "missing_in_ledger": ("Missing in our ledger", "the gateway has it, we do not"),
    "missing_at_gateway": ("Missing at the gateway", "ours says succeeded or pending, the gateway has nothing"),
    "amount_mismatch": ("Amount mismatch", "both have it, with different amounts"),
    "status_mismatch": ("Status mismatch", "both have it, with different statuses"),
}


@click.command("reconcile")
@click.option("--since", "first_day", type=_DAY, required=True, metavar="YYYY-MM-DD", help="First day (UTC).")
@click.option("--until", "last_day", type=_DAY, required=True, metavar="YYYY-MM-DD", help="Last day (UTC), included.")
@json_option
@pass_state
def reconcile(state: CliState, first_day: datetime, last_day: datetime, as_json: bool) -> None:
    """Compare our card payments and refunds of the days SINCE to UNTIL (both included, UTC) with
    the gateway's charges and refunds. Prints what matched and every discrepancy: missing in our
    ledger, missing at the gateway, amount mismatch, status mismatch.

    Then checks the business invariants over the whole ledger (`checkout payments audit`): the
    two can agree and both be wrong for the business, e.g. a refund never asked for.

    Exit codes: 0 everything matched and every invariant holds, 1 discrepancies or findings,
    2 bad dates, 5 gateway or database unavailable."""
    with domain_errors():
        # Checked before anything is built or read: bad input never reaches a use case.
        since, until = period_of_days(first_day.date(), last_day.date())
        ctx = state.app().ctx
        with progress_callback("Reconciling") as on_progress:
            report = reconcile_payments(ctx, state.actor, since=since, until=until, on_progress=on_progress)
        invariants = audit_ledger(ctx, state.actor)
    if as_json:
        emit_json({**reconciliation_to_dict(report), "invariants": audit_report_to_dict(invariants)})
    else:
        _print_report(report)
        click.echo("")
        heading("Business invariants:")
        print_audit(invariants)
    if not (report.is_clean and invariants.is_clean):
        raise SystemExit(EXIT_FINDINGS)


def _print_report(report: ReconciliationReport) -> None:
    last_day = (report.until - timedelta(days=1)).date()
    click.echo(
        f"Reconciliation of {report.since.date().isoformat()} to {last_day.isoformat()} (UTC) "
        f"against the {report.gateway or 'payment'} gateway"
    )
    counts = report.counts
    table(
        [
            ("Matched", counts["matched"]),
            *((title, counts[name]) for name, (title, _) in _BUCKET_TITLES.items()),
        ],
        ["Bucket", "Records"],
    )
    if report.missing_in_ledger:
        _section("missing_in_ledger")
        _gateway_table(report.missing_in_ledger)
    if report.missing_at_gateway:
        _section("missing_at_gateway")
        _ledger_table(report.missing_at_gateway)
    for name, pairs in (("amount_mismatch", report.amount_mismatch), ("status_mismatch", report.status_mismatch)):
        if pairs:
            _section(name)
            _pair_table(pairs)
    click.echo("")
    problems = sum(counts[name] for name in _BUCKET_TITLES)
    if report.duplicate_charges:
        heading("Duplicate charges (a second charge for one payment; each refunded in full):")
        _ledger_table(report.duplicate_charges)
    if report.is_clean:
        click.echo(f"Result: clean — all {counts['matched']} records matched.")
    else:
        click.echo(f"Result: {problems} discrepanc{'y' if problems == 1 else 'ies'} to explain.")


def _section(name: str) -> None:
    title, meaning = _BUCKET_TITLES[name]
    heading(f"{title} ({meaning}):")


def _gateway_table(records: Sequence[GatewayRecord]) -> None:
    table(
        [(r.kind, r.ref, money(r.amount), r.status, when(r.created_at), r.ledger_id or "-") for r in records],
        ["Kind", "Gateway ref", "Amount", "Status", "Created", "Our id (metadata)"],
    )


def _ledger_table(entries: Sequence[LedgerEntry]) -> None:
    table(
        [(e.kind, e.id, money(e.amount), e.status, when(e.created_at), e.gateway_ref or "-") for e in entries],
        ["Kind", "Our id", "Amount", "Status", "Created", "Gateway ref"],
    )


def _pair_table(pairs: Sequence[Pair]) -> None:
    table(
        [
            (
                p.ledger.kind,
                p.ledger.id,
                p.gateway.ref,
                money(p.ledger.amount),
                money(p.gateway.amount),
                p.ledger.status,
                p.gateway.status,
            )
            for p in pairs
        ],
        ["Kind", "Our id", "Gateway ref", "Our amount", "Gateway amount", "Our status", "Gateway status"],
    )
