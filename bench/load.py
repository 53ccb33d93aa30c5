"""A bounded HTTP load generator: N client threads, each with its own keep-alive httpx client,
working through a fixed list of requests (never more than given, never longer than a cap).

Threads rather than asyncio because the server under test runs sync handlers in a thread pool
and we want N truly concurrent connections; the generator's own CPU use is reported, since on
a 2-core machine it competes with the server (a generator near one full core means the figure
is a floor, most of all for the fast baseline).

:func:`run_load` runs in the caller's process (tests use it so); the benchmark runs it in a
process of its own, :class:`LoadProcess`, so that what the generator costs is that process's
CPU time alone — not shared with the benchmark's bookkeeping (reading ``/proc``, querying
``pg_stat_activity``) nor slowed by it through one interpreter lock."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

import attrs
import httpx

from bench.report import percentile


@attrs.frozen
class Call:
    """One request to send. ``base`` indexes the list of base URLs (several servers)."""

    method: str
    path: str
    headers: dict[str, str] = attrs.Factory(dict)
    json: Any = None
    base: int = 0
    tag: Any = None


@attrs.frozen
class Outcome:
    """What came back."""

    call: Call
    status: int
    seconds: float
    body: Any


@attrs.frozen
class LoadResult:
    """A run's outcomes and its summary figures."""

    outcomes: list[Outcome]
    wall_seconds: float
    client_cpu_seconds: float
    clients: int

    @property
    def completed(self) -> int:
        """Requests that got an answer (any status; transport errors are status 0)."""
        return len(self.outcomes)

    @property
    def throughput(self) -> float:
        """Requests per second over the whole run."""
        return self.completed / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def latency_ms(self, q: float) -> float:
        """The ``q``-th percentile latency in milliseconds."""
        return percentile([o.seconds for o in self.outcomes], q) * 1000

    @property
    def statuses(self) -> Counter[int]:
        """How many of each status code (0: no answer)."""
        return Counter(o.status for o in self.outcomes)

    @property
    def server_errors(self) -> int:
        """5xx answers plus requests that got no answer at all."""
        return sum(n for status, n in self.statuses.items() if status >= 500 or status == 0)

    @property
    def client_cpu_share(self) -> float:
        """The generator's CPU time per wall second (1.0 = one full core)."""
        return self.client_cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def status_summary(self) -> str:
        """``201×300 409×12``."""
        return " ".join(f"{status}×{n}" for status, n in sorted(self.statuses.items()))


def _body(response: httpx.Response) -> Any:
    """The JSON body, or the text when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return response.text


def run_load(
    base_urls: Sequence[str],
    calls: Sequence[Call],
    *,
    clients: int,
    max_seconds: float = 120.0,
    together: bool = False,
    timeout: float = 30.0,
    keep_body: Callable[[Call, int], bool] = lambda _call, _status: False,
    on_start: Callable[[], None] | None = None,
) -> LoadResult:
    """Send ``calls`` with ``clients`` concurrent threads; return every outcome.

    ``together``: each thread sends exactly one call and all are released at the same instant
    (a race). Otherwise threads take the next call until none is left or ``max_seconds`` passed.
    ``keep_body(call, status)`` says which responses' JSON bodies to keep (ids for later steps).
    ``on_start()`` runs once every client is ready, just before they are released (a test makes
    its holds fall due there, so that the race meets the sweepers head-on)."""
    if together and len(calls) != clients:
        raise ValueError("a race sends exactly one call per client")
    pending = iter(calls)
    take_lock = threading.Lock()
    outcomes: list[Outcome] = []
    out_lock = threading.Lock()
    clock = {"t0": 0.0, "deadline": 0.0}

    def release() -> None:
        # Runs once, when every client has built its HTTP clients: the run starts now.
        if on_start is not None:
            on_start()
        clock["t0"] = time.perf_counter()
        clock["deadline"] = clock["t0"] + max_seconds

    start = threading.Barrier(clients + 1, action=release)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    def next_call() -> Call | None:
        with take_lock:
            if time.perf_counter() > clock["deadline"]:
                return None
            return next(pending, None)

    def client() -> None:
        http = [httpx.Client(base_url=b, timeout=timeout, limits=limits) for b in base_urls]
        try:
            start.wait(120)
            while (call := next_call()) is not None:
                started = time.perf_counter()
                try:
                    response = http[call.base].request(call.method, call.path, headers=call.headers, json=call.json)
                    status = response.status_code
                    body = _body(response) if keep_body(call, status) else None
                except httpx.HTTPError:
                    status, body = 0, None
                elapsed = time.perf_counter() - started
                with out_lock:
                    outcomes.append(Outcome(call, status, elapsed, body))
                if together:
                    return
        finally:
            for h in http:
                h.close()

    with ThreadPoolExecutor(clients, thread_name_prefix="load") as pool:
        futures = [pool.submit(client) for _ in range(clients)]
        start.wait(120)
        cpu0 = time.process_time()
        for future in futures:
            future.result()
        wall = time.perf_counter() - clock["t0"]
        cpu = time.process_time() - cpu0
    return LoadResult(outcomes, wall, cpu, clients)


def _keeper(statuses: frozenset[int]) -> Callable[[Call, int], bool]:
    """A ``keep_body`` that keeps the bodies of answers with one of ``statuses``."""
    return lambda _call, status: status in statuses


def _serve(connection: Connection) -> None:
    """The generator process: run each job received, send back its :class:`LoadResult`."""
    while True:
        job = connection.recv()
        if job is None:
            return
        base_urls, calls, options, keep_statuses = job
        try:
            result: LoadResult | BaseException = run_load(base_urls, calls, **options, keep_body=_keeper(keep_statuses))
        except Exception as error:  # sent to the caller, which raises it
            result = error
        connection.send(result)


class LoadProcess:
    """:func:`run_load` in a process of its own (``spawn``: nothing of the caller's state, its
    engines or threads, is copied into it). Use as a context manager; one job at a time.

    ``LoadResult.client_cpu_seconds`` is then the generator process's whole CPU time during
    the run (all its client threads), measured inside it."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), name="bench-load", daemon=True)
        self._process.start()
        child.close()

    def run(
        self,
        base_urls: Sequence[str],
        calls: Sequence[Call],
        *,
        clients: int,
        max_seconds: float = 120.0,
        together: bool = False,
        keep_statuses: frozenset[int] = frozenset(),
    ) -> LoadResult:
        """As :func:`run_load`; ``keep_statuses``: the statuses whose JSON bodies come back."""
        options = {"clients": clients, "max_seconds": max_seconds, "together": together}
        self._connection.send((list(base_urls), list(calls), options, keep_statuses))
        result: LoadResult | BaseException = self._connection.recv()
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        """Ask the process to end, and wait for it."""
        if self._process.is_alive():
            self._connection.send(None)
            self._process.join(30)
        self._connection.close()

    def __enter__(self) -> LoadProcess:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()
