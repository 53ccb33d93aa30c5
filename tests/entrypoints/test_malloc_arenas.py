"""At most two glibc malloc arenas in an API worker (entrypoints/http/malloc_arenas.py).

Each case runs in a fresh interpreter: the cap applies to arenas made after it, and this test
process has long had its own. The arenas are counted from glibc's ``malloc_stats()`` report."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: Eight threads each holding a few hundred objects above pymalloc's 512-byte limit: malloc's own
#: allocations, made while the others allocate, so glibc spreads them over arenas.
_THREADS = """
import ctypes, sys, threading
barrier = threading.Barrier(8)
held = []
def work():
    barrier.wait()
    for _ in range(200):
        held.append([bytes(2000) for _ in range(20)])
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
sys.stderr.flush()
ctypes.CDLL(None).malloc_stats()
"""


_CAP = "from entrypoints.http.malloc_arenas import limit_malloc_arenas\nprint(limit_malloc_arenas())"


def _arenas(setup: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    code = textwrap.dedent(setup) + _THREADS
    if env is None:  # glibc's default: whatever this process's environment says, not a cap
        env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False, env=env
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip(), result.stderr.count("Arena ")


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")


def test_a_worker_uses_at_most_two_arenas() -> None:
    out, capped = _arenas(_CAP)
    _, default = _arenas("")
    assert out == "True"
    assert capped <= 2
    assert default > 2  # without the cap, glibc would have made more: the test can fail


def test_malloc_arena_max_in_the_environment_wins() -> None:
    from entrypoints.http.malloc_arenas import arenas_for_workers

    out, three = _arenas(_CAP, {**os.environ, "MALLOC_ARENA_MAX": "3"})
    assert (out, three) == ("True", 3)  # the operator's value, not ours
    environ = {"MALLOC_ARENA_MAX": "4"}
    assert arenas_for_workers(environ) == "4"
    fresh: dict[str, str] = {}
    assert arenas_for_workers(fresh) == "2"
    assert fresh == {"MALLOC_ARENA_MAX": "2"}
    assert _arenas("", {**os.environ, "MALLOC_ARENA_MAX": "2"})[1] <= 2  # what a spawned worker gets


def test_the_worker_factory_caps_the_arenas_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from entrypoints.http import asgi

    steps: list[str] = []
    monkeypatch.setattr(asgi, "limit_malloc_arenas", lambda: steps.append("arenas") or True)
    monkeypatch.setattr(asgi, "defer_unused_imports", lambda: None)  # not in this test process
    monkeypatch.setattr(asgi, "bootstrap", lambda settings: steps.append("bootstrap") or _Stop())
    for name in ("CHECKOUT_DATABASE_URL", "CHECKOUT_JWT_SECRET", "CHECKOUT_PAYMENT_GATEWAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHECKOUT_DATA_DIR", str(tmp_path))
    with pytest.raises(_Stopped):
        asgi.create_from_env()
    assert steps == ["arenas", "bootstrap"]  # capped before any thread of the app exists


class _Stopped(Exception):
    pass


class _Stop:
    """Stands in for the bootstrapped App: the test ends where the HTTP app would be built."""

    def __getattr__(self, name: str) -> object:
        raise _Stopped(name)
