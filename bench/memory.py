"""Section 5: peak memory (RSS) per server process under load.

``checkout serve --workers 2`` on a fresh PostgreSQL database takes the HTTP scenarios of
:mod:`bench.http_load` (reservations, the 64-client race, orders with their agreement PDF,
reads); then ``VmHWM`` — the kernel's high-water mark of the resident set — is read from
``/proc/<pid>/status`` for the uvicorn supervisor and each worker. The target applies to each
process that serves requests (the workers); the supervisor only watches them.

Units: the kernel reports KiB; the table shows MB (10^6 bytes), the unit of the target."""

from __future__ import annotations

import tempfile
from pathlib import Path

import attrs

from bench import pg
from bench.http_load import JWT_SECRET, Plan, exercise, finish, running
from bench.report import Section, mark
from bench.seed import prepare_database
from bench.servers import checkout_env, checkout_server

TARGET_MB = 150.0
WORKERS = 2


def _role(command: str, root: bool) -> str:
    if "resource_tracker" in command:
        return "multiprocessing resource tracker"
    if root:
        return "uvicorn supervisor (checkout serve)"
    return "uvicorn worker (serves requests)"


def run(quick: bool) -> Section:
    """Load the two-worker server, then read every process's peak RSS."""
    plan = Plan(
        levels=(8, 32) if not quick else (8,),
        reservations=120 if not quick else 30,
        orders=80 if not quick else 15,
        reads=400 if not quick else 60,
        race_rounds=2 if not quick else 1,
        max_seconds=60 if not quick else 15,
        workers=WORKERS,
    )
    section = Section(
        "memory",
        f"5. Peak RSS per server process under load (checkout serve --workers {WORKERS})",
        ["process", "pid", "peak RSS MB", "target", "verdict"],
    )
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, pg.fresh_database() as url:
        work = Path(tmp)
        cars = prepare_database(url, vehicles=plan.cars_needed)
        env = checkout_env(database_url=url, data_dir=work / "data", jwt_secret=JWT_SECRET)
        server = checkout_server("memory", env, work, workers=WORKERS)
        with running(server):
            load = finish(exercise(server.base_url, cars, plan, "m"))
            peaks = server.peak_rss_kib()
            root = server.pid
    for pid, (kib, command) in sorted(peaks.items()):
        role = _role(command, pid == root)
        megabytes = kib * 1024 / 1e6
        serves = role.startswith("uvicorn worker")
        section.rows.append(
            [
                role,
                pid,
                megabytes,
                f"<= {TARGET_MB:g}" if serves else "-",
                mark(megabytes <= TARGET_MB) if serves else "-",
            ]
        )
        if serves and megabytes > TARGET_MB:
            section.notes.append(f"worker {pid}: peak RSS {megabytes:.0f} MB > {TARGET_MB:g} MB")
    requests = sum(r.completed for by in load.results.values() for r in by.values())
    section.notes.append(
        f"load: {requests} requests (reserve, race, order, read at {', '.join(map(str, plan.levels))} clients)"
    )
    section.notes += load.problems
    section.data = {
        "plan": attrs.asdict(plan),
        "peak_rss_kib": {str(pid): {"kib": kib, "cmd": cmd} for pid, (kib, cmd) in peaks.items()},
        "requests": requests,
    }
    return section
