"""Reconciliation: our ledger's card payments and refunds of a period against the gateway's
records, each sorted into one bucket (``matched``, ``missing_in_ledger``, ``missing_at_gateway``,
``amount_mismatch``, ``status_mismatch``). Pairing rules and the margin around the period:
docs/payments.md, "Reconciliation"."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

import attrs

from checkout_core.errors import ValidationFailed
from checkout_core.model.payments import PaymentMethod, PaymentPurpose
from checkout_core.money import Money
from checkout_core.ports.payments import GatewayRecord
from checkout_core.usecases.context import Actor, Context

#: Called as ``on_progress(done, total)`` while records are compared (for a CLI progress bar).
ProgressCallback = Callable[[int, int], None]

DEFAULT_MARGIN = timedelta(minutes=10)

#: The days a period may cover. Gateways date their records in Unix time (Stripe's ``created``
#: filters take Unix timestamps), and the day after the last one must still be a date.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)

CHARGE = "charge"
REFUND = "refund"

#: Gateway status words → the three we compare (adapters already map most; this is a safety net).
_NORMALISED = {
    "succeeded": "succeeded",
    "paid": "succeeded",
    "available": "succeeded",
    "pending": "pending",
    "processing": "pending",
    "requires_action": "pending",
    "requires_capture": "pending",
    "failed": "failed",
    "canceled": "failed",
    "cancelled": "failed",
    "requires_payment_method": "failed",
}


_FAILED = "failed"


def _normalise(status: str) -> str:
    return _NORMALISED.get(status.lower(), status.lower())


@attrs.frozen(kw_only=True)
class LedgerEntry:
    """One of our card payments or refunds, in the shape reconciliation compares."""

    kind: str  # "charge" (a ledger payment) or "refund"
    id: str  # our payment or refund id
    payment_id: str  # the payment itself, or the payment a refund belongs to
    amount: Money
    status: str  # succeeded | pending | failed
    idempotency_key: str
    gateway_ref: str | None
    created_at: datetime
    #: The payment's purpose (``duplicate`` marks a second charge we refund).
    purpose: str = ""


@attrs.frozen(kw_only=True)
class Pair:
    """A ledger entry and the gateway record it was paired with."""

    ledger: LedgerEntry
    gateway: GatewayRecord
    matched_by: str  # "gateway_ref" | "idempotency_key" | "ledger_id"


@attrs.frozen(kw_only=True)
class ReconciliationReport:
    """The outcome of one reconciliation run (every collection is a tuple: the report is frozen)."""

    since: datetime
    until: datetime
    gateway: str
    matched: tuple[Pair, ...] = ()
    missing_in_ledger: tuple[GatewayRecord, ...] = ()
    missing_at_gateway: tuple[LedgerEntry, ...] = ()
    amount_mismatch: tuple[Pair, ...] = ()
    status_mismatch: tuple[Pair, ...] = ()
    #: Second charges the gateway took for one of our payments, each with a ledger row of its own
    #: and refunded in full (informational: they pair like any charge).
    duplicate_charges: tuple[LedgerEntry, ...] = ()

    @property
    def is_clean(self) -> bool:
        """True when everything matched (the CLI exits 0 only then)."""
        return not (self.missing_in_ledger or self.missing_at_gateway or self.amount_mismatch or self.status_mismatch)

    @property
    def counts(self) -> dict[str, int]:
        """How many records landed in each bucket."""
        return {
            "matched": len(self.matched),
            "missing_in_ledger": len(self.missing_in_ledger),
            "missing_at_gateway": len(self.missing_at_gateway),
            "amount_mismatch": len(self.amount_mismatch),
            "status_mismatch": len(self.status_mismatch),
        }


def period_of_days(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """The period ``[since, until)`` covering the whole days ``first_day`` to ``last_day``, both
    included, in UTC.

    This is how advisors name a period (``--since 2025-12-01 --until 2025-12-31`` is December),
    and UTC days are the gateway's own (Stripe's reports and balance days are UTC). One day is
    ``first_day == last_day``. Days outside :data:`FIRST_DAY`..:data:`LAST_DAY` are a
    ValidationFailed, like an end before the start."""
    for day, field in ((first_day, "since"), (last_day, "until")):
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ValidationFailed(
                f"{day.isoformat()} is out of range: periods lie between {FIRST_DAY.isoformat()} "
                f"and {LAST_DAY.isoformat()}",
                field=field,
            )
    if last_day < first_day:
        raise ValidationFailed(
            f"the period ends ({last_day.isoformat()}) before it starts ({first_day.isoformat()})", field="until"
        )
    since = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
    until = datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC) + timedelta(days=1)
    return since, until


def reconcile_payments(
    ctx: Context,
    actor: Actor,
    *,
    since: datetime,
    until: datetime,
    on_progress: ProgressCallback | None = None,
    margin: timedelta = DEFAULT_MARGIN,
) -> ReconciliationReport:
    """Compare our ledger with the gateway for [since, until). Advisors and system jobs only.

    The ledger is read in one short unit of work which is closed before the gateway is asked
    (never hold a transaction open across network calls). Raises PaymentGatewayUnavailable if
    the gateway cannot be read."""
    actor.require_staff()
    if since.tzinfo is None or until.tzinfo is None:
        raise ValidationFailed("since and until must be timezone-aware", field="since")
    if since >= until:
        raise ValidationFailed("since must be before until", field="since")
    try:
        wide_since, wide_until = since - margin, until + margin
    except OverflowError:
        raise ValidationFailed("the period is out of range", field="since") from None
    with ctx.uow() as uow:
        payments = list(uow.ledger.payments_for(created_since=wide_since, created_before=wide_until))
        card_ids = {p.id for p in payments if p.method is PaymentMethod.CARD}
        refunds = list(uow.ledger.refunds_for(created_since=wide_since, created_before=wide_until))
        # A refund of a card payment made before the window still belongs to the gateway's view.
        for refund in refunds:
            if refund.payment_id not in card_ids:
                payment = uow.ledger.get_payment(refund.payment_id)
                if payment is not None and payment.method is PaymentMethod.CARD:
                    card_ids.add(payment.id)
    entries = [
        LedgerEntry(
            kind=CHARGE,
            id=p.id,
            payment_id=p.id,
            amount=p.amount,
            status=p.status.value,
            idempotency_key=p.idempotency_key,
            gateway_ref=p.gateway_ref,
            created_at=p.created_at,
            purpose=p.purpose.value,
        )
        for p in payments
        if p.method is PaymentMethod.CARD
    ]
    entries += [
        LedgerEntry(
            kind=REFUND,
            id=r.id,
            payment_id=r.payment_id,
            amount=r.amount,
            status=r.status.value,
            idempotency_key=r.idempotency_key,
            gateway_ref=r.gateway_ref,
            created_at=r.created_at,
        )
        for r in refunds
        if r.payment_id in card_ids
    ]
    records = list(ctx.gateway.activity(wide_since, wide_until))
    report = compare(entries, records, since=since, until=until, gateway=ctx.gateway.name, on_progress=on_progress)
    duplicates = tuple(
        e for e in entries if e.purpose == PaymentPurpose.DUPLICATE.value and since <= e.created_at < until
    )
    return attrs.evolve(report, duplicate_charges=duplicates)


def compare(
    entries: Sequence[LedgerEntry],
    records: Iterable[GatewayRecord],
    *,
    since: datetime,
    until: datetime,
    gateway: str = "",
    on_progress: ProgressCallback | None = None,
) -> ReconciliationReport:
    """Pair ledger entries with gateway records and sort them into the report's buckets (pure)."""
    gateway_records = list(records)
    total = len(entries) + len(gateway_records)
    done = 0
    if on_progress is not None:
        on_progress(0, total)

    used: set[int] = set()
    by_ref: dict[tuple[str, str], list[int]] = {}
    by_key: dict[tuple[str, str], list[int]] = {}
    by_ledger_id: dict[tuple[str, str], list[int]] = {}
    for index, record in enumerate(gateway_records):
        by_ref.setdefault((record.kind, record.ref), []).append(index)
        if record.idempotency_key:
            by_key.setdefault((record.kind, record.idempotency_key), []).append(index)
        if record.ledger_id:
            by_ledger_id.setdefault((record.kind, record.ledger_id), []).append(index)

    def take(index: dict[tuple[str, str], list[int]], kind: str, value: str | None) -> int | None:
        if not value:
            return None
        candidates = [i for i in index.get((kind, value), []) if i not in used]
        if not candidates:
            return None
        # Several gateway objects for one of our rows (a retry the gateway did not deduplicate):
        # pair with a succeeded one if any; the others stay unpaired and are reported.
        chosen = next((i for i in candidates if _normalise(gateway_records[i].status) == "succeeded"), candidates[0])
        used.add(chosen)
        return chosen

    def inside(moment: datetime) -> bool:
        return since <= moment < until

    matched: list[Pair] = []
    amount_mismatch: list[Pair] = []
    status_mismatch: list[Pair] = []
    missing_at_gateway: list[LedgerEntry] = []
    for entry in entries:
        found, how = take(by_ref, entry.kind, entry.gateway_ref), "gateway_ref"
        if found is None:
            found, how = take(by_key, entry.kind, entry.idempotency_key), "idempotency_key"
        if found is None:
            found, how = take(by_ledger_id, entry.kind, entry.id), "ledger_id"
        if found is None:
            if _normalise(entry.status) != _FAILED and inside(entry.created_at):
                missing_at_gateway.append(entry)
        else:
            record = gateway_records[found]
            if inside(entry.created_at) or inside(record.created_at):
                pair = Pair(ledger=entry, gateway=record, matched_by=how)
                if record.amount != entry.amount:
                    amount_mismatch.append(pair)
                elif _normalise(record.status) != _normalise(entry.status):
                    status_mismatch.append(pair)
                else:
                    matched.append(pair)
        done += 1
        if on_progress is not None:
            on_progress(done, total)

    missing_in_ledger: list[GatewayRecord] = []
    for index, record in enumerate(gateway_records):
        # A failed charge or refund we have no row for moved no money (as a failed row of ours with
        # nothing at the gateway); everything else we did not pair is ours to explain.
        if index not in used and inside(record.created_at) and _normalise(record.status) != _FAILED:
            missing_in_ledger.append(record)
        done += 1
        if on_progress is not None:
            on_progress(done, total)

    return ReconciliationReport(
        since=since,
        until=until,
        gateway=gateway,
        matched=tuple(matched),
        missing_in_ledger=tuple(missing_in_ledger),
        missing_at_gateway=tuple(missing_at_gateway),
        amount_mismatch=tuple(amount_mismatch),
        status_mismatch=tuple(status_mismatch),
    )
