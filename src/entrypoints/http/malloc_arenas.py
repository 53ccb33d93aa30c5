"""At most two glibc malloc arenas in an API worker (issue 16: an API worker ≤ 90 MB).

glibc gives each thread that finds the main arena busy an arena of its own, up to eight per core,
and each keeps the memory it once held. An API worker runs its handlers on a pool of threads
(asyncio's default executor: 6 on 2 cores), so under load it grows a handful of arenas that the
GIL makes pointless: two threads almost never allocate at the same moment. Measured with the
full mixed load of ``python -m bench memory`` (six runs each): 90.1–90.4 MB peak RSS a worker
with glibc's default, 88.2–89.9 MB with two arenas.

glibc reads ``MALLOC_ARENA_MAX`` from the environment when a process starts, so ``checkout serve``
puts it in the environment its workers are spawned with (:func:`arenas_for_workers`: an operator's
own value is kept), and the worker's factory applies the same value with ``mallopt`` too
(:func:`limit_malloc_arenas`), for a process that was started otherwise (``serve --workers 1``
serves from its own process; uvicorn run by hand). Elsewhere than glibc (musl, macOS) there is no
``mallopt`` and nothing is done."""

from __future__ import annotations

import ctypes
import os
from collections.abc import MutableMapping

#: glibc's ``M_ARENA_MAX`` option of ``mallopt`` (malloc.h).
M_ARENA_MAX = -8
ARENAS = 2


def arenas_for_workers(environ: MutableMapping[str, str] = os.environ) -> str:
    """Put ``MALLOC_ARENA_MAX`` in ``environ`` for the processes started from now on, unless it is
    there already; the value in force."""
    return environ.setdefault("MALLOC_ARENA_MAX", str(ARENAS))


def limit_malloc_arenas() -> bool:
    """Cap the arenas glibc makes from now on at ``MALLOC_ARENA_MAX`` (when set; else
    :data:`ARENAS`); call it before the handler threads start. Whether a cap was set (False:
    not glibc, or a value that is not a positive number)."""
    try:
        arenas = int(os.environ.get("MALLOC_ARENA_MAX", ARENAS))
        mallopt = ctypes.CDLL(None).mallopt  # Windows: CDLL(None) is a TypeError
    except (ValueError, OSError, AttributeError, TypeError):
        return False
    if arenas < 1:
        return False  # glibc ignores it
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
