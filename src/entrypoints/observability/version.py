"""What code is running: the package version and the git commit it was built from.

The commit comes from ``CHECKOUT_COMMIT`` (set it when building an image without ``.git``), else
from the ``.git`` directory of a source checkout, read directly (no ``git`` binary needed);
``unknown`` when neither says."""

from __future__ import annotations

import functools
import os
import re
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "checkout-backend"
_SHA = re.compile(r"[0-9a-f]{40}")


@functools.cache
def version() -> str:
    """The installed package's version."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _git_dir(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        candidate = directory / ".git"
        if candidate.is_dir():
            return candidate
    return None


def _read_commit(git_dir: Path) -> str | None:
    head = (git_dir / "HEAD").read_text().strip()
    if _SHA.fullmatch(head):
        return head  # a detached HEAD
    ref = head.removeprefix("ref: ").strip()
    loose = git_dir / ref
    if loose.is_file():
        return loose.read_text().strip()
    packed = git_dir / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            sha, _, name = line.partition(" ")
            if name == ref and _SHA.fullmatch(sha):
                return sha
    return None


@functools.cache
def commit() -> str:
    """The git commit of the running code, or ``unknown``."""
    configured = os.environ.get("CHECKOUT_COMMIT", "").strip()
    if configured:
        return configured
    git_dir = _git_dir(Path(__file__).resolve().parent)
    if git_dir is None:
        return "unknown"
    try:
        return _read_commit(git_dir) or "unknown"
    except OSError:
        return "unknown"
