"""Server processes for the benchmarks and the multi-process tests: start, wait until they
answer, read their peak memory, stop them.

Processes are started with the virtualenv's interpreter and console scripts directly (not
through ``uv run``), so the process we hold is the server itself and its peak RSS is its own."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import attrs
import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def script(name: str) -> str:
    """A console script of this virtualenv (``checkout``), next to the running interpreter."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `uv sync` first")
    return str(path)


def checkout_env(
    *, database_url: str, data_dir: Path, jwt_secret: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a ``checkout`` process on ``database_url`` and ``data_dir``.

    Log level WARNING: per-request and per-event INFO lines would measure the terminal, and
    uvicorn's access log is off at that level too (the baseline runs with the same level)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHECKOUT_", "STRIPE_", "DROPBOX_SIGN_"))}
    env.update(
        {
            "CHECKOUT_DATABASE_URL": database_url,
            "CHECKOUT_DATA_DIR": str(data_dir),
            "CHECKOUT_JWT_SECRET": jwt_secret,
            "CHECKOUT_LOG_LEVEL": "WARNING",
            # Rate limits: counted in each process unless the caller gives a CHECKOUT_REDIS_URL,
            # and none per client address: every client of a benchmark or test is 127.0.0.1.
            "CHECKOUT_RATE_LIMIT_STORE": "memory",
            # The sandbox gateway and a local document store on PostgreSQL: a development setup
            # (production refuses them, see docs/operations.md); the topology test overrides it.
            "CHECKOUT_ENV": "development",
            "CHECKOUT_RATE_LIMIT_RESERVATIONS_PER_IP": "off",
            "CHECKOUT_RATE_LIMIT_DECLINES_PER_IP": "off",
            "CHECKOUT_RATE_LIMIT_BAD_TOKENS_PER_IP": "off",
            "CHECKOUT_RATE_LIMIT_BAD_WEBHOOKS_PER_IP": "off",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc/<pid>/task/*/children)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += _children(current)
    return tree


def status_kib(pid: int, field: str) -> int | None:
    """A ``kB`` field of /proc/<pid>/status (``VmHWM``: peak resident set size), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (0 once it is gone)."""
    try:
        # Fields after the command name, which is in parentheses and may contain spaces.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime: fields 14 and 15 of stat


def host_cpu_seconds() -> float:
    """CPU seconds all processes of this host have used since boot (busy time of every core,
    from /proc/stat: everything but idle and iowait); 0 where /proc/stat is missing."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0.0
    ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICKS


def cmdline(pid: int) -> str:
    """The process's command line, for telling workers from supervisors."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


@attrs.define
class ManagedProcess:
    """One started process: a server (possibly a uvicorn supervisor with workers) or a job."""

    name: str
    argv: list[str]
    env: dict[str, str]
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def launch(self) -> ManagedProcess:
        """Start the process (in its own session, so that stopping it reaches its workers)."""
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.argv, env=self.env, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def wait_ready(self, *, ready_path: str = "/health", timeout: float = 60.0) -> ManagedProcess:
        """Wait until ``ready_path`` answers 200 (the process dying first is an error)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise RuntimeError(f"{self.name} exited with {code}:\n{self.log_tail()}")
            try:
                if httpx.get(self.base_url + ready_path, timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer {ready_path} within {timeout:.0f}s:\n{self.log_tail()}")

    def start(self, *, ready_path: str = "/health", timeout: float = 60.0) -> ManagedProcess:
        """Launch, then wait until ``ready_path`` answers 200."""
        return self.launch().wait_ready(ready_path=ready_path, timeout=timeout)

    def output_lines(self) -> list[str]:
        """Everything the process printed so far (stdout and stderr), line by line."""
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []

    @property
    def pid(self) -> int:
        """The started process's id."""
        if self.process is None:
            raise RuntimeError("not started")
        return self.process.pid

    def peak_rss_kib(self) -> dict[int, tuple[int, str]]:
        """VmHWM (peak RSS, KiB) of the process and each descendant: pid → (KiB, command line)."""
        out: dict[int, tuple[int, str]] = {}
        for pid in process_tree(self.pid):
            hwm = status_kib(pid, "VmHWM")
            if hwm is not None:
                out[pid] = (hwm, cmdline(pid))
        return out

    def cpu_seconds(self) -> float:
        """CPU time used so far by the process and its live descendants (uvicorn workers)."""
        return sum(cpu_seconds(pid) for pid in process_tree(self.pid))

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the process printed."""
        return "\n".join(self.output_lines()[-lines:]) or "(no output)"

    def stop(self, timeout: float = 20.0, *, sig: signal.Signals = signal.SIGTERM) -> int | None:
        """``sig`` (SIGTERM: graceful, requests or the pass in flight finish) to the process
        group, SIGKILL after ``timeout``; returns the exit status (negative: killed by a signal)."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None
        return process.returncode


def checkout_server(
    name: str, env: dict[str, str], log_dir: Path, *, workers: int = 1, port: int | None = None
) -> ManagedProcess:
    """``checkout serve`` (the production command: migrates, then uvicorn with the ASGI factory)."""
    port = port or free_port()
    argv = [script("checkout"), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    return ManagedProcess(name, argv, env, f"http://127.0.0.1:{port}", log_dir / f"{name}.log")


def checkout_job(
    name: str, args: Sequence[str], env: dict[str, str], log_dir: Path, *, niceness: int = 0
) -> ManagedProcess:
    """A ``checkout`` job command (``reservations expire --loop …``, ``events relay --loop …``),
    at a lower CPU priority with ``niceness`` (``nice -n``)."""
    argv = [script("checkout"), *args]
    if niceness:
        argv = ["nice", "-n", str(niceness), *argv]
    return ManagedProcess(name, argv, env, "", log_dir / f"{name}.log")


def uvicorn_server(
    name: str,
    factory: str,
    env: dict[str, str],
    log_dir: Path,
    *,
    workers: int = 1,
    port: int | None = None,
    extra_args: Sequence[str] = (),
) -> ManagedProcess:
    """uvicorn with an ASGI factory and the settings ``checkout serve`` gives uvicorn
    (host, port, workers, log level warning; everything else uvicorn's defaults)."""
    port = port or free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        *extra_args,
    ]
    return ManagedProcess(name, argv, env, f"http://127.0.0.1:{port}", log_dir / f"{name}.log")
