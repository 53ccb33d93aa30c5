"""Copying a data directory's documents into another store (``checkout documents migrate``).

Resumable by construction: keys are content addresses, so a document already in the target
(one HEAD request) is the same document and is skipped; an interrupted run is simply run again.
Every copy is read back from the source with its hash checked (a damaged file is reported, never
copied), and the verify pass reads every document back from the target and re-hashes it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import attrs

from checkout_core.errors import DocumentIntegrityError, NotFound
from checkout_core.ports.documents import StoredObject


class Source(Protocol):
    """Where the documents are now (the local store)."""

    def keys(self) -> Iterator[str]:
        """Every key held."""
        ...

    def get(self, key: str) -> bytes:
        """The checked bytes of ``key``."""
        ...


class Target(Protocol):
    """Where they go (the S3 store)."""

    def contains(self, key: str) -> bool:
        """Whether ``key`` is already there."""
        ...

    def put(self, content: bytes, content_type: str) -> StoredObject:
        """Store bytes under their SHA-256."""
        ...

    def verify(self, key: str) -> bool:
        """Whether ``key`` is there and intact."""
        ...


@attrs.frozen(kw_only=True)
class MigrationReport:
    """What a run did: ``problems`` names each document that could not be copied or verified."""

    total: int
    copied: int
    already_there: int
    verified: int
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Every document is in the target, intact."""
        return not self.problems


#: The content type documents are copied with when the source does not keep one (the order's
#: record keeps the real one, and downloads through the API use that).
_COPY_TYPE = "application/octet-stream"


def migrate_documents(
    source: Source,
    target: Target,
    *,
    verify: bool = True,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> MigrationReport:
    """Copy every document of ``source`` missing from ``target``, then (``verify``) check each
    in the target. ``on_progress(done, total)`` is called after each document of each pass."""
    keys = list(source.keys())
    total = len(keys)
    copied = already = 0
    problems: list[str] = []
    in_target: list[str] = []
    for done, key in enumerate(keys, start=1):
        if target.contains(key):
            already += 1
            in_target.append(key)
        else:
            try:
                content = source.get(key)
            except (NotFound, DocumentIntegrityError) as error:
                problems.append(f"{key}: not copied, the source file is {_why(error)}")
            else:
                target.put(content, _COPY_TYPE)
                copied += 1
                in_target.append(key)
        on_progress(done, total * (2 if verify else 1))
    verified = 0
    if verify:
        verified, bad = _verify(target, in_target, lambda n: on_progress(total + n, 2 * total))
        problems += bad
    return MigrationReport(
        total=total, copied=copied, already_there=already, verified=verified, problems=tuple(problems)
    )


def _verify(target: Target, keys: Iterable[str], advance: Callable[[int], None]) -> tuple[int, list[str]]:
    good, bad = 0, []
    for n, key in enumerate(keys, start=1):
        if target.verify(key):
            good += 1
        else:
            bad.append(f"{key}: missing or damaged in the target")
        advance(n)
    return good, bad


def _why(error: Exception) -> str:
    return "damaged (its bytes no longer match its hash)" if isinstance(error, DocumentIntegrityError) else "gone"
