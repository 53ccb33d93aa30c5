"""Id generators: random (production) and sequential (readable tests)."""

from __future__ import annotations

import itertools
import secrets
import threading


class RandomIds:
    """``prefix_`` + 16 random base32 characters (80 bits): unguessable, URL-safe."""

    _ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"

    def new(self, prefix: str) -> str:
        """A new random id."""
        return prefix + "_" + "".join(secrets.choice(self._ALPHABET) for _ in range(16))


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
