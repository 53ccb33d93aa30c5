"""``checkout documents``: an order's signing audit trail, and the tamper check of the trail and
of every stored document (``verify`` exits 1 on any problem, so it can run from a scheduler)."""

from __future__ import annotations

import click

from checkout_core.ports.documents import SealReport
from checkout_core.usecases.agreements import generate_due_agreements
from checkout_core.usecases.orders import sync_open_envelopes
from checkout_core.usecases.signing_audit import audit_entries, verify_order_documents
from entrypoints.cli.app_factory import CliState, pass_state
from entrypoints.cli.output import (
    EXIT_FINDINGS,
    EXIT_UNAVAILABLE,
    domain_errors,
    emit_json,
    json_option,
    loop_option,
    run_sweep,
    table,
    when,
)
from entrypoints.views import audit_entry_to_dict, iso, verification_to_dict


@click.group()
def documents() -> None:
    """Documents: agreements to render, the signing audit trail, the tamper check and the
    signing provider's state."""


@documents.command("generate")
@loop_option
@click.option(
    "--interval",
    type=click.FloatRange(0.05, 3600),
    default=0.5,
    show_default=True,
    help="Seconds between passes with --loop (a customer is waiting for the agreement).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1000),
    default=20,
    show_default=True,
    help="Orders claimed per transaction (each is locked while its PDF renders).",
)
@json_option
@pass_state
def generate(state: CliState, loop: bool, interval: float, batch_size: int, as_json: bool) -> None:
    """Render and store the purchase agreement of every order placed without one
    (CHECKOUT_AGREEMENTS=worker leaves them to this job).

    Safe to run in several copies (on PostgreSQL each order is rendered by one of them). With
    --loop it runs until SIGTERM or SIGINT, finishing the pass in progress."""
    ctx = state.app().ctx
    run_sweep(
        sweep=lambda: generate_due_agreements(ctx, batch_size=batch_size),
        count_due=lambda: 0,
        now=lambda: iso(ctx.clock.now()) or "",
        counting=lambda advance: state.tap.counting("PurchaseAgreementGenerated", advance),
        label="Rendering agreements",
        noun="agreement",
        verb="generated",
        loop=loop,
        interval=interval,
        as_json=as_json,
    )


@documents.command("verify")
@click.argument("order_id")
@json_option
@pass_state
def verify(state: CliState, order_id: str, as_json: bool) -> None:
    """Check ORDER's signing audit trail (every entry's hash and its link to the previous one) and
    every stored document (its bytes against the SHA-256 recorded for it). Prints each problem.

    Exit codes: 0 intact, 1 a problem was found (an edited, removed or reordered audit entry, a
    changed or missing document), 3 unknown order, 5 database unavailable."""
    with domain_errors():
        result = verify_order_documents(state.app().ctx, state.actor, order_id)
    if as_json:
        emit_json(verification_to_dict(result))
    else:
        for problem in result.chain_problems:
            click.echo(f"audit trail: {problem}")
        for problem in result.document_problems:
            click.echo(f"document: {problem}")
        for document_id, seal in result.seals:
            click.echo(f"seal of {document_id}: {_seal_line(seal)}")
        verdict = "intact" if result.ok else "TAMPERED OR DAMAGED"
        click.echo(
            f"order {order_id}: {verdict} — {result.entries} audit entries, {result.documents} documents, "
            f"{len(result.chain_problems) + len(result.document_problems)} problems"
        )
    if not result.ok:
        raise SystemExit(EXIT_FINDINGS)


@documents.command("audit")
@click.argument("order_id")
@json_option
@pass_state
def audit(state: CliState, order_id: str, as_json: bool) -> None:
    """ORDER's signing audit trail, oldest first: who did what to the agreement, when and from
    where, with the agreement's SHA-256 and the hash chain (first 12 hex digits shown)."""
    with domain_errors():
        entries = audit_entries(state.app().ctx, state.actor, order_id)
    if as_json:
        emit_json({"orderId": order_id, "items": [audit_entry_to_dict(e) for e in entries]})
        return
    if not entries:
        click.echo(f"order {order_id}: no signing activity yet")
        return
    table(
        [
            (
                e.sequence,
                e.action.value,
                when(e.occurred_at),
                e.signer_email,
                e.ip_address or "-",
                _short(e.user_agent, 40) or "-",
                e.document_sha256[:12],
                e.entry_hash[:12],
            )
            for e in entries
        ],
        ["#", "Action", "At", "Signer", "IP address", "User agent", "Document", "Entry hash"],
    )


def _seal_line(seal: SealReport) -> str:
    """``PAdES B-LT, timestamp 2025-12-23T16:00:05Z by <TSA> (trusted)`` — or why it fails."""
    if seal.level == "none":
        return "not sealed"
    line = f"{seal.level}, {'valid' if seal.ok else 'INVALID: ' + seal.problem}"
    if seal.timestamp_at is None:
        return line + ", no timestamp (the seal's time is the dealer's clock)"
    trust = "trusted" if seal.timestamp_trusted else "NOT trusted: set CHECKOUT_TSA_TRUST_FILE"
    return f"{line}, timestamp {iso(seal.timestamp_at)} by {seal.timestamp_authority} ({trust})"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@documents.command("migrate")
@click.option(
    "--to",
    "destination",
    type=click.Choice(["s3"]),
    required=True,
    help="The store to copy into: the bucket of CHECKOUT_S3_BUCKET / _PREFIX / _ENDPOINT_URL.",
)
@click.option("--verify/--no-verify", default=True, show_default=True, help="Read every document back from the bucket.")
@json_option
@pass_state
def migrate(state: CliState, destination: str, verify: bool, as_json: bool) -> None:
    """Copy the data directory's documents into object storage, then verify each one there.

    Resumable: documents already in the bucket are skipped (keys are content hashes), so an
    interrupted run is simply started again. Run it before switching CHECKOUT_DOCUMENT_STORE=s3
    and once more after (for documents written meanwhile). Exit codes: 0 all there and intact,
    1 a document could not be copied or verified, 2 bad settings, 5 the bucket is unreachable."""
    # Imported here: only this command needs them (the bucket's SDK loads with the first).
    from entrypoints.bootstrap import migrate_documents
    from entrypoints.cli.output import EXIT_USAGE, fail, progress_callback
    from entrypoints.settings import SettingsError

    settings = state.settings()
    try:
        with progress_callback(f"Copying documents to {destination}") as on_progress:
            report = migrate_documents(settings, verify=verify, on_progress=on_progress)
    except SettingsError as error:
        fail(str(error), EXIT_USAGE)
    except OSError as error:
        fail(f"cannot reach the document bucket: {error}", EXIT_UNAVAILABLE)
    if as_json:
        emit_json(
            {
                "total": report.total,
                "copied": report.copied,
                "alreadyThere": report.already_there,
                "verified": report.verified,
                "problems": list(report.problems),
            }
        )
    else:
        for problem in report.problems:
            click.echo(f"document {problem}")
        checked = f", {report.verified} verified in the bucket" if verify else ""
        click.echo(
            f"{report.total} document(s): {report.copied} copied, {report.already_there} already there{checked}, "
            f"{len(report.problems)} problem(s)"
        )
    if not report.ok:
        raise SystemExit(EXIT_FINDINGS)


@documents.command("sync-signatures")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@json_option
@pass_state
def sync_signatures(state: CliState, limit: int, as_json: bool) -> None:
    """Ask the signing provider about envelopes still open and apply what their lost callbacks
    would have said (signed, declined). Run it from cron; the built-in signer needs nothing."""
    with domain_errors():
        done = sync_open_envelopes(state.app().ctx, limit=limit)
    data = {"asked": done.asked, "signed": done.signed, "declined": done.declined, "unavailable": done.unavailable}
    if as_json:
        emit_json(data)
    else:
        click.echo(
            f"asked about {done.asked} open envelope(s): {done.signed} signed, {done.declined} declined"
            + (f", {done.unavailable} could not be asked (provider unavailable)" if done.unavailable else "")
        )
    if done.unavailable:
        raise SystemExit(EXIT_UNAVAILABLE)


@documents.command("countersign")
@click.argument("order_id")
@click.option(
    "--advisor",
    "advisor_id",
    default=None,
    metavar="ADVISOR_ID",
    help="Who signs for the dealer (default: the advisor running the command).",
)
@json_option
@pass_state
def countersign(state: CliState, order_id: str, advisor_id: str | None, as_json: bool) -> None:
    """Countersign ORDER_ID's buyer-signed agreement for the dealer: the agreement is then
    executed, and its new signed copy carries both signatures on their lines."""
    from checkout_core.usecases.order_view import order_details
    from checkout_core.usecases.orders import countersign_agreement
    from entrypoints.views import order_to_dict

    with domain_errors():
        app = state.app()
        order = countersign_agreement(app.ctx, state.actor, order_id, advisor_id=advisor_id)
        if as_json:
            emit_json(order_to_dict(order_details(app.ctx, state.actor, order.id)))
            return
    click.echo(f"order {order.number} ({order.id}): agreement countersigned, now executed")
