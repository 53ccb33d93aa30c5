"""The API's own CPU per request, in one process: ``uv run python -m bench.inprocess``.

The HTTP section measures whole servers on a shared host, where a run's figures swing by ±30 %;
this one measures what a code change does to the API's Python. The real ASGI app
(``create_from_env``, PostgreSQL, the agreement left to the worker) is called directly — no
sockets, no HTTP parsing — one request at a time, each handler in its worker thread as under
uvicorn; the CPU time of this process (``time.process_time``: every thread) is divided by the
requests. PostgreSQL's CPU is not in it. Each scenario runs ``--rounds`` times and the least
figure is printed (noise only ever adds).

To compare two commits, run it from both checkouts *at the same time* (two processes, the same
host conditions), e.g. ``git worktree add /tmp/before <commit>`` and
``(cd /tmp/before && uv run python -m bench.inprocess) & uv run python -m bench.inprocess``.
Add ``--profile reserve`` (or ``order``, ``read``) to write a cProfile of that scenario's last
round, its handlers run inline so the profile sees them, to ``bench/results/<scenario>.pstats``.

``--calls`` prints, beside the CPU, the Python function calls per request of each scenario
(counted by cProfile in the last round, handlers inline; C functions such as ``dict.get`` count
too). Unlike CPU time it does not move with the host's load: the same code gives the same count
to within a few calls (ids and timestamps vary), so a change of 1 % shows where the CPU figure
cannot. It is a proxy — a call into psycopg's C wait costs more than a ``len`` — so a saving is
confirmed by CPU side by side before it is claimed. Run it with ``--baseline`` for the baseline's
counts."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from bench import pg
from bench.http_load import JWT_SECRET, Customers, order_call, reservation_call
from bench.load import Call
from bench.seed import HISTORY, prepare_database
from bench.servers import REPO_ROOT, checkout_env

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGI = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]


def _scope(call: Call) -> tuple[dict[str, Any], bytes]:
    body = b"" if call.json is None else json.dumps(call.json).encode()
    headers = [(b"host", b"127.0.0.1"), (b"user-agent", b"bench"), (b"accept", b"*/*")]
    headers += [(k.lower().encode(), v.encode()) for k, v in call.headers.items()]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": call.method,
        "scheme": "http",
        "path": call.path,
        "raw_path": call.path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    return scope, body


async def _send(app: ASGI, call: Call) -> tuple[int, bytes]:
    scope, body = _scope(call)
    delivered = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # no disconnect while the request runs
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def _inline_handlers() -> None:
    """Run sync handlers in the event loop's thread, so that cProfile sees them."""
    import anyio.to_thread
    import litestar.concurrency

    async def inline(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    litestar.concurrency._run_sync_asyncio = inline  # type: ignore[assignment]  # profiling only
    anyio.to_thread.run_sync = inline  # type: ignore[assignment]  # profiling only


def _function_calls(profiler: cProfile.Profile) -> int:
    """Every function call the profiler saw (Python and C), recursive ones included."""
    profiler.create_stats()
    return sum(entry[1] for entry in profiler.stats.values())  # (primitive, all calls, …) per function


def _app(url: str, data_dir: Path, baseline: bool) -> Any:
    """The API under test, or (``baseline``) the minimal correct design on the same database."""
    if baseline:
        os.environ["BENCH_BASELINE_DATABASE_URL"] = url
        os.environ["BENCH_BASELINE_MODE"] = "required"
        from bench.baseline_app import create_from_env as create_baseline

        return create_baseline()
    os.environ.update(checkout_env(database_url=url, data_dir=data_dir, jwt_secret=JWT_SECRET))
    os.environ["CHECKOUT_AGREEMENTS"] = "worker"
    from entrypoints.http.asgi import create_from_env

    return create_from_env()


async def _measure(
    requests: int, rounds: int, profile: str | None, baseline: bool, counts: dict[str, float] | None = None
) -> dict[str, float]:
    best: dict[str, float] = {}
    with pg.fresh_database() as url, tempfile.TemporaryDirectory(prefix="bench-inprocess-") as tmp:
        cars = iter(prepare_database(url, vehicles=(2 * rounds + 1) * requests + 50, history=HISTORY))
        app = _app(url, Path(tmp), baseline)
        customers = Customers("i")

        async def run(name: str, calls: Sequence[Call], last: bool) -> list[tuple[Call, int, bytes]]:
            counted = last and counts is not None
            profiler = cProfile.Profile(time.process_time) if last and (profile == name or counted) else None
            started = time.process_time()
            if profiler is not None:
                profiler.enable()
            answers = [(call, *await _send(app, call)) for call in calls]
            if profiler is not None:
                profiler.disable()
                if profile == name:
                    profiler.dump_stats(REPO_ROOT / "bench" / "results" / f"{name}.pstats")
                if counts is not None:
                    counts[name] = _function_calls(profiler) / len(calls)
            spent = (time.process_time() - started) * 1000 / len(calls)
            if name in best:
                best[name] = min(best[name], spent)
            elif name != "warm-up":
                best[name] = spent
            bad = [status for _call, status, _body in answers if status >= 300]
            if bad:
                raise RuntimeError(f"{name}: {len(bad)} answers were not 2xx (first: {bad[0]})")
            return answers

        await run("warm-up", [reservation_call(customers, next(cars)) for _ in range(20)], False)
        for number in range(rounds):
            last = number == rounds - 1
            held = await run("reserve", [reservation_call(customers, next(cars)) for _ in range(requests)], last)
            placed = await run(
                "order", [order_call(customers, json.loads(b)["reservationId"], *c.tag) for c, _s, b in held], last
            )
            reads = [Call("GET", f"/api/v1/orders/{json.loads(b)['orderId']}", dict(c.headers)) for c, _s, b in placed]
            await run("read", (reads * 3)[: 3 * requests], last)
    return best


def main() -> None:
    """Print the least CPU per request of each scenario."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per scenario and round (reads: 3×)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=("reserve", "order", "read"))
    parser.add_argument("--calls", action="store_true", help="also print the function calls per request (see above)")
    parser.add_argument(
        "--baseline", action="store_true", help="measure bench/baseline_app.py's minimal correct design instead"
    )
    args = parser.parse_args()
    if args.profile or args.calls:
        _inline_handlers()
    counts: dict[str, float] | None = {} if args.calls else None
    best = asyncio.run(_measure(args.requests, args.rounds, args.profile, args.baseline, counts))
    who = "the baseline's" if args.baseline else "API"
    print(f"{who} CPU per request, in process (ms, least of the rounds):", end="")
    print("".join(f"  {name} {ms:.3f}" for name, ms in best.items()))
    if counts is not None:
        print(f"{who} function calls per request (last round):", end="")
        print("".join(f"  {name} {n:.0f}" for name, n in counts.items()))


if __name__ == "__main__":
    main()
