"""Section 4: the expiry sweep of N due reservations on PostgreSQL, with 1 and 3 processes.

Each run gets a fresh database and data directory with N confirmed reservations that expired
an hour ago (:func:`bench.seed.seed_due_reservations`), then starts the sweeper processes
(:mod:`bench.expiry_worker`: the production composition root from ``CHECKOUT_*`` and the same
use case as ``checkout reservations expire``), releases them together and measures the wall
time from the first start to the last finish. All processes share ``CHECKOUT_DATA_DIR``, hence
the sandbox gateway's SQLite file, as the expiry job and the API do in an embedded install.

Afterwards it checks that every reservation was expired exactly once and every deposit
refunded exactly once: in our tables (reservations, refunds, payments, cars, the outbox's
``ReservationExpired`` events) and at the gateway (its refund records, one per idempotency key).

The gateway's time is measured per process, so the table says how much of the sweep is spent
waiting for the sandbox's file. A diagnostic run (full mode) repeats the 3-process sweep with
that file in WAL mode, to show what the gateway costs as shipped."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
from sqlalchemy import Engine, func, select

from adapters.payments.sandbox import SandboxGateway
from adapters.sql import tables
from adapters.sql.engine import make_engine
from adapters.sql.migrations import upgrade_database
from adapters.system.clock import SystemClock
from bench import pg
from bench.report import Section, mark
from bench.seed import SANDBOX_FILE, sandbox_journal_mode, seed_due_reservations
from bench.servers import REPO_ROOT, checkout_env

TARGET_SECONDS_3 = 10.0
JWT_SECRET = "bench-expiry-secret-" + "x" * 32


@attrs.frozen
class SweepRun:
    """One measured sweep."""

    workers: int
    due: int
    wall_seconds: float
    per_worker: list[dict[str, Any]]
    checks: dict[str, int]
    problems: list[str]
    sandbox_mode: str

    @property
    def rate(self) -> float:
        """Reservations expired (and refunded) per second."""
        return self.due / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def cpu_ms_per_reservation(self) -> float:
        """The sweeper processes' own CPU time per reservation (PostgreSQL's is not included)."""
        return sum(w["cpu_seconds"] for w in self.per_worker) * 1000 / self.due if self.due else 0.0

    @property
    def gateway_share(self) -> float:
        """Fraction of the workers' time spent inside gateway calls."""
        busy = sum(w["seconds"] for w in self.per_worker)
        return sum(w["gateway_seconds"] for w in self.per_worker) / busy if busy else 0.0


def _count(engine: Engine, statement: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(statement).scalar_one())


def verify(engine: Engine, data_dir: Path, ids: list[str], since: datetime) -> tuple[dict[str, int], list[str]]:
    """Each seeded reservation expired once, its car released, its deposit refunded once."""
    r, o, f, p, v = tables.reservations, tables.outbox, tables.refunds, tables.payments, tables.vehicles
    n = len(ids)
    checks = {
        "reservations expired": _count(engine, select(func.count()).where(r.c.id.in_(ids), r.c.status == "expired")),
        "ReservationExpired events": _count(
            engine, select(func.count()).select_from(o).where(o.c.name == "ReservationExpired")
        ),
        "distinct reservations in those events": _count(
            engine, select(func.count(o.c.aggregate_id.distinct())).where(o.c.name == "ReservationExpired")
        ),
        "refunds (ledger)": _count(engine, select(func.count()).select_from(f)),
        "refunds succeeded (ledger)": _count(engine, select(func.count()).where(f.c.status == "succeeded")),
        "payments refunded (ledger)": _count(
            engine, select(func.count()).where(p.c.refunded_cents == p.c.amount_cents, p.c.reservation_id.in_(ids))
        ),
        "distinct payments refunded": _count(engine, select(func.count(f.c.payment_id.distinct()))),
        "cars available again": _count(engine, select(func.count()).where(v.c.status == "available")),
    }
    gateway = SandboxGateway(SystemClock(), data_dir / SANDBOX_FILE)
    try:
        records = [x for x in gateway.activity(since, datetime.now(UTC) + timedelta(minutes=1)) if x.kind == "refund"]
    finally:
        gateway.close()
    checks["refunds at the gateway"] = len(records)
    checks["distinct refund keys at the gateway"] = len({x.idempotency_key for x in records})
    problems = [f"{name}: {value}, expected {n}" for name, value in checks.items() if value != n]
    return checks, problems


def sweep(due: int, workers: int, *, sandbox_wal: bool = False, batch_size: int = 100) -> SweepRun:
    """Seed ``due`` reservations on a fresh database and sweep them with ``workers`` processes."""
    with pg.fresh_database() as url, tempfile.TemporaryDirectory(prefix="bench-expiry-") as tmp:
        data_dir = Path(tmp) / "data"
        engine = make_engine(url)
        try:
            upgrade_database(engine)
            seeded_at = datetime.now(UTC)
            ids = seed_due_reservations(engine, data_dir, due)
            mode = sandbox_journal_mode(data_dir, "wal" if sandbox_wal else "delete")
            env = checkout_env(database_url=url, data_dir=data_dir, jwt_secret=JWT_SECRET)
            start_file = Path(tmp) / "go"
            argv = [sys.executable, "-m", "bench.expiry_worker", str(start_file), "--batch-size", str(batch_size)]
            processes = [
                subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
                for _ in range(workers)
            ]
            try:
                for process in processes:
                    assert process.stdout is not None
                    if process.stdout.readline().strip() != "ready":
                        raise RuntimeError("an expiry worker failed to start")
                start_file.touch()
                reports = []
                for process in processes:
                    out, _ = process.communicate(timeout=1800)
                    if process.returncode != 0:
                        raise RuntimeError(f"an expiry worker exited with {process.returncode}")
                    reports.append(json.loads(out.strip().splitlines()[-1]))
            finally:
                for process in processes:
                    if process.poll() is None:
                        process.kill()
            wall = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
            checks, problems = verify(engine, data_dir, ids, seeded_at - timedelta(minutes=1))
            total = sum(r["expired"] for r in reports)
            if total != due:
                problems.append(f"the workers report {total} expired, expected {due}")
            return SweepRun(workers, due, wall, reports, checks, problems, mode)
        finally:
            engine.dispose()


def run(quick: bool) -> Section:
    """1 and 3 sweepers (and, in full mode, the WAL diagnostic)."""
    due = 300 if quick else 10_000
    section = Section(
        "expiry",
        f"4. Expiry sweep of {due:,} due reservations on PostgreSQL",
        [
            "processes",
            "sandbox file",
            "wall s",
            "expired/s",
            "per process",
            "in gateway",
            "CPU ms/resv",
            "exactly once",
            "target",
            "verdict",
        ],
    )
    runs = [sweep(due, 1), sweep(due, 3)]
    if not quick:
        runs.append(sweep(due, 3, sandbox_wal=True))
    for n, result in enumerate(runs):
        diagnostic = n == 2
        target = "-" if result.workers == 1 or diagnostic else f"<= {TARGET_SECONDS_3:g} s"
        verdict = "-" if target == "-" else mark(result.wall_seconds <= TARGET_SECONDS_3)
        per_process = ", ".join(str(w["expired"]) for w in result.per_worker)
        section.rows.append(
            [
                result.workers,
                f"{result.sandbox_mode}{' (diagnostic)' if diagnostic else ' (as shipped)'}",
                result.wall_seconds,
                result.rate,
                per_process,
                f"{result.gateway_share:.0%}",
                result.cpu_ms_per_reservation,
                "yes" if not result.problems else "NO",
                target,
                verdict,
            ]
        )
        section.notes += [f"{result.workers} process(es): {p}" for p in result.problems]
    one, three = runs[0], runs[1]
    section.notes.append(
        f"speed-up 1 -> 3 processes: {one.wall_seconds / three.wall_seconds:.2f}x "
        f"(gateway share {one.gateway_share:.0%} -> {three.gateway_share:.0%})"
    )
    section.data = {"due": due, "runs": [attrs.asdict(r) for r in runs]}
    return section
