"""Helpers of the crash tests: API processes that can be SIGKILLed and started again on the same
port, and a shopper's HTTP client that retries the way a browser or a mobile app would (same
``Idempotency-Key``, same body, on whichever process the load balancer picks next)."""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import httpx
from bench.servers import REPO_ROOT, ManagedProcess, checkout_server, free_port, script


class Servers:
    """``checkout serve`` processes on fixed ports: ``kill(n)`` SIGKILLs process ``n`` (its
    whole process group), ``restart(n)`` starts a new one on the same port. Every process started
    is appended to ``started`` (the ``processes`` fixture's list, which stops them at the end)."""

    def __init__(self, count: int, env: dict[str, str], logs: Path, started: list[ManagedProcess]) -> None:
        self._env = env
        self._logs = logs
        self._started = started
        self._ports = [free_port() for _ in range(count)]
        self._generation = [0] * count
        self._current: list[ManagedProcess | None] = [None] * count
        self.kills = 0

    @property
    def bases(self) -> list[str]:
        """The base URLs, stable across restarts."""
        return [f"http://127.0.0.1:{port}" for port in self._ports]

    def start_all(self, timeout: float = 90.0) -> None:
        """Launch every process at once, then wait until each answers."""
        for n in range(len(self._ports)):
            self._launch(n)
        for process in self._current:
            assert process is not None
            process.wait_ready(timeout=timeout)

    def _launch(self, n: int) -> ManagedProcess:
        self._generation[n] += 1
        name = f"api-{n + 1}.{self._generation[n]}"
        process = checkout_server(name, self._env, self._logs, port=self._ports[n]).launch()
        self._started.append(process)
        self._current[n] = process
        return process

    def kill(self, n: int) -> None:
        """``kill -9`` process ``n`` (no request it was running gets to finish or clean up)."""
        process = self._current[n]
        assert process is not None
        status = process.stop(sig=signal.SIGKILL)
        assert status == -signal.SIGKILL, f"{process.name} had already exited ({status}):\n{process.log_tail()}"
        self.kills += 1

    def restart(self, victims: list[int], timeout: float = 60.0) -> None:
        """Start the ``victims`` again on their ports (all at once), and wait until they answer."""
        for process in [self._launch(n) for n in victims]:
            process.wait_ready(timeout=timeout)

    def stop_all(self) -> None:
        """SIGTERM every live process (requests in flight finish)."""
        for process in self._current:
            if process is not None:
                process.stop()

    def log_tails(self) -> str:
        """The last lines of every process started, for a failure message."""
        return "\n\n".join(f"--- {p.name}\n{p.log_tail(15)}" for p in self._started if p.name.startswith("api-"))


def chaos_monkey(
    servers: Servers,
    rng: random.Random,
    *,
    rounds: int,
    until: float,
    at_least: int = 3,
    done: threading.Event,
    busy: Callable[[int], bool] = lambda _n: True,
) -> int:
    """Kill one or both processes at random moments, restarting them each time: ``rounds`` times,
    none started after ``until`` (``time.monotonic()``) once ``at_least`` rounds are done (a busy
    machine restarts slowly). Returns how many rounds it ran.

    Between two rounds the servers run for 0.3–1.5 s, and then up to 0.5 s more until
    ``busy(n)`` says a victim has requests in flight (a kill of an idle process proves little).
    A victim stays down for up to 0.4 s before its restart begins (a restart takes a few seconds,
    during which the other process, if alive, takes every request). Sets ``done`` when finished,
    also on error."""
    done_rounds = 0
    try:
        for _ in range(rounds):
            time.sleep(rng.uniform(0.3, 1.5))
            if time.monotonic() > until and done_rounds >= at_least:
                break
            victims = rng.choices([[0], [1], [0, 1]], weights=[2, 2, 1])[0]
            patience = time.monotonic() + 0.5
            while not any(busy(n) for n in victims) and time.monotonic() < patience:
                time.sleep(0.002)
            for n in victims:
                servers.kill(n)
            time.sleep(rng.uniform(0.0, 0.4))
            servers.restart(victims)
            done_rounds += 1
    finally:
        done.set()
    return done_rounds


@attrs.frozen
class Answer:
    """The answer a shopper finally got: ``status`` 0 when every attempt failed."""

    status: int
    body: Any = None

    @property
    def code(self) -> str | None:
        """The problem's ``code``, for an error answer."""
        return self.body.get("code") if isinstance(self.body, dict) else None


def _retryable(response: httpx.Response) -> bool:
    """An answer after which a client tries again with the same key: the request may not have
    run (a 5xx releases the key), or its first run is still going, or died with its process."""
    if response.status_code >= 500:
        return True
    return response.status_code == 409 and _json(response).get("code") == "idempotency_in_progress"


def _json(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class Shopper:
    """Sends requests to random API processes, retrying a failed one with the same key.

    A request that gets no answer (connection refused or reset: the process was killed), a 5xx
    or 409 ``idempotency_in_progress`` is sent again, with the same ``Idempotency-Key`` and body,
    up to ``attempts`` times with a growing pause. Now and then (``replay_chance``) a POST that was
    answered is sent once more with its key, as a client that never saw the answer would: the
    stored answer must come back unchanged (recorded in ``replay_mismatches`` otherwise)."""

    def __init__(self, bases: list[str], *, attempts: int = 7, replay_chance: float = 0.15) -> None:
        self._bases = bases
        self._attempts = attempts
        self._replay_chance = replay_chance
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()
        self._in_flight = [0] * len(bases)
        self.stats: Counter[str] = Counter()
        self.replay_mismatches: list[str] = []

    def busy(self, n: int) -> bool:
        """Whether process ``n`` has a request of ours in flight right now."""
        return self._in_flight[n] > 0

    def _request(
        self, client: httpx.Client, n: int, method: str, path: str, headers: Mapping[str, str], body: Any
    ) -> httpx.Response:
        with self._lock:
            self._in_flight[n] += 1
        try:
            return client.request(method, self._bases[n] + path, headers=dict(headers), json=body)
        finally:
            with self._lock:
                self._in_flight[n] -= 1

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(timeout=httpx.Timeout(20.0, connect=2.0))
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def close(self) -> None:
        """Close every thread's HTTP client."""
        for client in self._clients:
            client.close()

    def send(
        self,
        rng: random.Random,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: Any = None,
    ) -> Answer:
        """Send until answered (see the class docstring); ``headers`` carry the key."""
        client = self._client()
        for attempt in range(self._attempts):
            if attempt:
                self._count("retries with the same key")
                time.sleep(min(0.15 * 2**attempt, 1.2) * rng.uniform(0.5, 1.0))
            try:
                response = self._request(client, rng.randrange(len(self._bases)), method, path, headers, body)
            except httpx.HTTPError:
                self._count("no answer (connection)")
                continue
            if _retryable(response):
                self._count(f"{response.status_code} {_json(response).get('code', '')}".strip())
                continue
            answer = Answer(response.status_code, _json(response))
            if method == "POST" and rng.random() < self._replay_chance:
                self._replay(client, rng, path, headers, body, answer)
            return answer
        self._count("gave up")
        return Answer(0)

    def _replay(
        self, client: httpx.Client, rng: random.Random, path: str, headers: Mapping[str, str], body: Any, first: Answer
    ) -> None:
        """The same POST again, same key: the stored answer, marked replayed (or the process
        died meanwhile: a missing answer proves nothing)."""
        self._count("replays")
        try:
            again = self._request(client, rng.randrange(len(self._bases)), "POST", path, headers, body)
        except httpx.HTTPError:
            return
        if again.status_code >= 500 or again.status_code == 429:
            return  # an outage or a rate limit answers before the stored answer is looked up
        if (again.status_code, _json(again)) != (first.status, first.body) or again.headers.get(
            "Idempotent-Replayed"
        ) != "true":
            with self._lock:
                self.replay_mismatches.append(
                    f"POST {path}: first {first.status} {first.body!r:.300}, replay {again.status_code} "
                    f"(Idempotent-Replayed: {again.headers.get('Idempotent-Replayed')}) {again.text:.300}"
                )


@contextlib.contextmanager
def shopper(bases: list[str]) -> Iterator[Shopper]:
    """A :class:`Shopper`, its HTTP clients closed afterwards."""
    client = Shopper(bases)
    try:
        yield client
    finally:
        client.close()


def run_checkout(env: Mapping[str, str], *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run a ``checkout`` command to the end (the virtualenv's console script); never raises on
    a non-zero exit, the caller looks at it."""
    return subprocess.run(
        [script("checkout"), *args],
        env=dict(env),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
