"""Id generators: random (production) and sequential (readable tests)."""

from __future__ import annotations

import base64
import itertools
import secrets
import threading


class RandomIds:
    """``prefix_`` + 16 random base32 characters (80 bits): unguessable, URL-safe."""

    def new(self, prefix: str) -> str:
        """A new random id."""
        # 10 random bytes are exactly 16 base32 characters (no padding) over a-z2-7: one call to
        # the OS random source instead of one per character (several ids per request add up).
        return prefix + "_" + base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()


class SequentialIds:
    """``prefix_000001``, ``prefix_000002`` … per prefix; for tests that read ids."""

    def __init__(self) -> None:
        self._counters: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        """The next id for ``prefix``."""
        with self._lock:
            counter = self._counters.setdefault(prefix, itertools.count(1))
            return f"{prefix}_{next(counter):06d}"
