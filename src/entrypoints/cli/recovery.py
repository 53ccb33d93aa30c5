"""``checkout payments recover`` and ``checkout payments audit``: the money rule's recovery job
and its audit of the business invariants (``docs/payments.md``, "Crash safety").

Registered into the ``payments`` group from ``main.COMMANDS``; ``checkout reservations recover``
runs the same job under its older name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from checkout_core.usecases.ledger_audit import INVARIANTS, AuditReport, audit_ledger
from checkout_core.usecases.recovery import RecoveryReport, recover_payments
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.output import (
    EXIT_FINDINGS,
    batch_size_option,
    domain_errors,
    emit_json,
    emit_json_line,
    fields,
    heading,
    interval_option,
    json_option,
    loop_option,
    money,
    run_job,
    table,
)
from entrypoints.views import audit_report_to_dict


def recovery_to_dict(report: RecoveryReport) -> dict[str, int]:
    """What one recovery run settled (camelCase)."""
    return {
        "pendingDepositsSettled": report.deposits_settled,
        "cardPaymentsSettled": report.card_payments_settled,
        "refundsOpened": report.refunds_opened,
        "pendingRefundsSettled": report.refunds_settled,
    }


def print_recovery(data: Mapping[str, Any], as_json: bool, *, loop: bool = False) -> None:
    """One recovery run's counts, as a table or JSON."""
    if as_json:
        (emit_json_line if loop else emit_json)(dict(data))
        return
    fields(
        [
            ("Pending deposits settled", data["pendingDepositsSettled"]),
            ("Card payments settled", data["cardPaymentsSettled"]),
            ("Owed refunds opened", data["refundsOpened"]),
            ("Pending refunds settled", data["pendingRefundsSettled"]),
        ]
    )


@click.command("recover")
@batch_size_option
@loop_option
@interval_option
@json_option
@pass_state
def recover(state: CliState, batch_size: int, loop: bool, interval: float, as_json: bool) -> None:
    """Settle every money intent a crash left behind, for every flow: deposits stuck pending,
    card payments whose answer was lost, refunds owed but never opened, pending card refunds.

    Only intents untouched for longer than CHECKOUT_RECOVERY_GRACE_SECONDS (default 120) are
    taken. Idempotent, and safe to run in several processes at once; with --loop it runs every
    --interval seconds until SIGTERM or SIGINT."""
    ctx = state.app().ctx
    run_job(
        lambda: recovery_to_dict(recover_payments(ctx, batch_size=batch_size)),
        loop=loop,
        interval=interval,
        report=lambda data: print_recovery(data, as_json, loop=loop),
    )


@click.command("audit")
@json_option
@pass_state
def audit(state: CliState, as_json: bool) -> None:
    """Check the business invariants of money over the whole ledger: every released hold's deposit
    and every cancelled or returned order refunded (or its refund pending), no order paid above
    its total, no duplicate charge kept, no car held without a live hold or order, no intent left
    pending past the recovery grace.

    Exit codes: 0 every invariant holds, 1 findings, 5 database unavailable."""
    with domain_errors():
        report = audit_ledger(state.app().ctx, state.actor)
    if as_json:
        emit_json(audit_report_to_dict(report))
    else:
        print_audit(report)
    if not report.is_clean:
        raise SystemExit(EXIT_FINDINGS)


def print_audit(report: AuditReport) -> None:
    """The audit as a person reads it: a line per invariant, then each finding."""
    counts = audit_report_to_dict(report)["counts"]
    table([(name, counts[name], meaning) for name, meaning in INVARIANTS.items()], ["Invariant", "Findings", "Rule"])
    if report.findings:
        heading("Findings:")
        table(
            [
                (f.invariant, f.subject, money(f.amount) if f.amount is not None else "-", f.detail)
                for f in report.findings
            ],
            ["Invariant", "Subject", "Amount", "Detail"],
        )
        click.echo(f"Result: {len(report.findings)} finding(s). Run `checkout payments recover`, then audit again.")
    else:
        checked = ", ".join(f"{n} {k}" for k, n in report.checked.items())
        click.echo(f"Result: clean — every invariant holds ({checked} checked).")
