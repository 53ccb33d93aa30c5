"""Section 5: peak memory (RSS) and imported modules per server process under load.

``checkout serve --workers 2`` on a fresh PostgreSQL database takes the HTTP scenarios of
:mod:`bench.http_load` (reservations, the 64-client race, orders, reads); then ``VmHWM`` — the
kernel's high-water mark of the resident set — is read from ``/proc/<pid>/status`` for the
uvicorn supervisor and each worker, and each process reports the modules it has imported
(:class:`ModuleProbe`). The target applies to each process that serves requests (the workers);
the supervisor only migrates the database and watches them.

Two topologies:

* ``worker`` (the target, production's): ``CHECKOUT_AGREEMENTS=worker``, a ``checkout documents
  generate --loop`` process beside the API renders the agreement PDFs, so an API worker never
  loads reportlab;
* ``inline`` (a diagnostic, full runs only): the order request renders its agreement, and the
  worker carries reportlab from its first order on.

Units: the kernel reports KiB; the table shows MB (10^6 bytes), the unit of the target."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

from bench import pg
from bench.http_load import JWT_SECRET, Plan, exercise, finish, running
from bench.report import Section, mark
from bench.seed import prepare_database
from bench.servers import ManagedProcess, checkout_env, checkout_job, checkout_server

TARGET_MB = 90.0
WORKERS = 2

#: What an API worker held before issue 16's import diet: this section run on commit b516cfa's
#: code (quick load, the benchmark machine; the same in both topologies). Printed beside every
#: run, so the output shows before and after.
BEFORE = {"commit": "b516cfa", "peak_rss_mb": 126.0, "modules": 1401}

#: Packages a request of the mixed load never uses: none may be imported by an API worker of
#: the ``worker`` topology (tests/entrypoints/test_worker_imports.py asserts the same).
UNUSED_BY_REQUESTS = (
    "alembic",  # migrations: the parent of `serve`, or `checkout db upgrade`
    "mako",  # Alembic's templates
    "pygments",  # mako's syntax highlighting of template errors
    "reportlab",  # agreement PDFs: the document worker
    "PIL",  # reportlab's images
    "pypdfium2",  # the signing page's page images
    "pyhanko",  # sealing a signed copy
    "pydantic",  # Litestar's default plugin (pydantic is installed for dropbox-sign)
    "boto3",  # the S3 document store
    "opentelemetry",  # tracing, off unless configured
    "wsproto",  # uvicorn's WebSocket protocol: the API serves none (`checkout serve` passes ws="none")
    "websockets",  # the other one uvicorn would pick
)

_SITECUSTOMIZE = '''\
"""Written by bench.memory.ModuleProbe (a benchmark and test aid, never installed): when the file
``dump`` appears beside this one, the process writes the names of its imported modules, and
writes them again whenever it imports more (a worker still starting up), for two minutes."""
import json, os, sys, threading, time

_HERE = os.path.dirname(os.path.abspath(__file__))


def _watch():
    while not os.path.exists(os.path.join(_HERE, "dump")):
        time.sleep(0.1)
    target = os.path.join(_HERE, "modules-%d.json" % os.getpid())
    written, until = -1, time.monotonic() + 120
    while time.monotonic() < until:
        if len(sys.modules) != written:
            names = sorted(sys.modules)
            with open(target + ".tmp", "w") as handle:
                json.dump(names, handle)
            os.replace(target + ".tmp", target)
            written = len(names)
        time.sleep(0.2)


threading.Thread(target=_watch, name="module-probe", daemon=True).start()
'''


@attrs.define
class ModuleProbe:
    """Lists the modules each process of a server holds, without a line of probe code in it.

    :meth:`environment` puts a ``sitecustomize`` module on the ``PYTHONPATH`` of the processes
    started with it (uvicorn's spawned workers inherit it); :meth:`collect` asks every one of
    them for its ``sys.modules``. The watcher is one sleeping thread per process."""

    directory: Path

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` with the probe on the ``PYTHONPATH`` (the directory is created now)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "sitecustomize.py").write_text(_SITECUSTOMIZE)
        path = os.pathsep.join(p for p in (str(self.directory), env.get("PYTHONPATH", "")) if p)
        return {**env, "PYTHONPATH": path}

    def collect(self, pids: Iterable[int], timeout: float = 15.0) -> dict[int, frozenset[str]]:
        """pid → imported modules, for each of ``pids`` still running."""
        (self.directory / "dump").touch()
        wanted = set(pids)
        found: dict[int, frozenset[str]] = {}
        deadline = time.monotonic() + timeout
        while wanted - found.keys() and time.monotonic() < deadline:
            for pid in wanted - found.keys():
                path = self.directory / f"modules-{pid}.json"
                if path.exists():
                    found[pid] = frozenset(json.loads(path.read_text()))
                elif not Path(f"/proc/{pid}").exists():
                    wanted.discard(pid)
            time.sleep(0.1)
        return found


def unused_imports(modules: Iterable[str]) -> list[str]:
    """The packages of :data:`UNUSED_BY_REQUESTS` among ``modules``."""
    tops = {name.partition(".")[0] for name in modules}
    return [package for package in UNUSED_BY_REQUESTS if package in tops]


def _role(command: str, root: bool) -> str:
    if "resource_tracker" in command:
        return "multiprocessing resource tracker"
    if root:
        return "uvicorn supervisor (checkout serve)"
    return "uvicorn worker (serves requests)"


def _plan(quick: bool) -> Plan:
    return Plan(
        levels=(8, 32) if not quick else (8,),
        reservations=120 if not quick else 30,
        orders=80 if not quick else 15,
        reads=400 if not quick else 60,
        race_rounds=2 if not quick else 1,
        max_seconds=60 if not quick else 15,
        workers=WORKERS,
    )


def _measure(
    plan: Plan, agreements: str, work: Path
) -> tuple[dict[int, tuple[int, str, str]], dict[int, frozenset[str]], int, list[str]]:
    """One server under the load: (pid → (peak KiB, role, command)), pid → modules, requests, problems."""
    probe = ModuleProbe(work / "probe")
    with pg.fresh_database() as url:
        cars = prepare_database(url, vehicles=plan.cars_needed)
        env = checkout_env(database_url=url, data_dir=work / "data", jwt_secret=JWT_SECRET)
        env = probe.environment({**env, "CHECKOUT_AGREEMENTS": agreements})
        server = checkout_server(f"memory-{agreements}", env, work, workers=WORKERS)
        documents: ManagedProcess | None = None
        with running(server):
            if agreements == "worker":
                argv = ["documents", "generate", "--loop", "--interval", "0.2"]
                documents = checkout_job("memory-documents", argv, env, work).launch()
            try:
                load = finish(exercise(server.base_url, cars, plan, "m"))
                peaks = server.peak_rss_kib()
                extra = documents.peak_rss_kib() if documents is not None else {}
                modules = probe.collect([*peaks, *extra])
            finally:
                if documents is not None:
                    documents.stop()
            root = server.pid
    rows = {pid: (kib, _role(command, pid == root), command) for pid, (kib, command) in peaks.items()}
    rows |= {pid: (kib, "document worker (renders agreements)", command) for pid, (kib, command) in extra.items()}
    requests = sum(r.completed for by in load.results.values() for r in by.values())
    return rows, modules, requests, list(load.problems)


def run(quick: bool) -> Section:
    """Load the two-worker server in each topology, then read every process's peak RSS and modules."""
    plan = _plan(quick)
    section = Section(
        "memory",
        f"5. Peak RSS and modules per process under load (checkout serve --workers {WORKERS})",
        ["agreements", "process", "pid", "peak RSS MB", "modules", "unused packages loaded", "target", "verdict"],
    )
    data: dict[str, object] = {"plan": attrs.asdict(plan), "before": BEFORE}
    # The inline diagnostic doubles the section's time: full runs only.
    for agreements in ("worker",) if quick else ("worker", "inline"):
        with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
            rows, modules, requests, problems = _measure(plan, agreements, Path(tmp))
        target = agreements == "worker"  # inline renders PDFs in the worker: a diagnostic
        for pid, (kib, role, _command) in sorted(rows.items(), key=lambda item: item[1][1]):
            megabytes = kib * 1024 / 1e6
            serves = role.startswith("uvicorn worker")
            held = modules.get(pid)
            unused = unused_imports(held) if held is not None else None
            checked = serves and target
            section.rows.append(
                [
                    agreements if target else f"{agreements} [diagnostic]",
                    role,
                    pid,
                    megabytes,
                    len(held) if held is not None else None,
                    (", ".join(unused) or "none") if unused is not None else None,
                    f"<= {TARGET_MB:g}" if checked else "-",
                    mark(megabytes <= TARGET_MB and not unused) if checked else "-",
                ]
            )
            if checked and megabytes > TARGET_MB:
                section.notes.append(f"worker {pid}: peak RSS {megabytes:.1f} MB > {TARGET_MB:g} MB")
            if checked and unused:
                section.notes.append(f"worker {pid} imported {', '.join(unused)}, which no request of the load uses")
        levels = ", ".join(map(str, plan.levels))
        section.notes.append(f"{agreements}: {requests} requests (reserve, race, order, read at {levels} clients)")
        section.notes += [f"{agreements}: {problem}" for problem in problems]
        data[agreements] = {
            "requests": requests,
            "processes": {
                str(pid): {"kib": kib, "role": role, "cmd": command, "modules": len(modules.get(pid, ()))}
                for pid, (kib, role, command) in rows.items()
            },
        }
    section.notes.append(
        f"before (commit {BEFORE['commit']}, same quick load): an API worker peaked at "
        f"{BEFORE['peak_rss_mb']:g} MB with {BEFORE['modules']:,} modules (alembic, mako, pygments, reportlab, "
        "pypdfium2, pydantic among them)"
    )
    section.data = data
    return section
