"""A content-addressed document store on the local filesystem.

A document's key is the SHA-256 of its bytes (64 lower-case hex digits) and its file is
``root/ab/cd/abcd…`` (the first two pairs of hex digits fan the files out over 65,536
directories, so no directory grows huge). Nothing but the hash ever becomes part of a path:
a key handed to :meth:`LocalDocumentStore.get` is checked against ``^[0-9a-f]{64}$`` first,
so ``../``, absolute paths or odd encodings never reach the filesystem.

Writes are atomic: the bytes go to a temporary file in the target directory, are flushed to
disk, and the file is renamed over the final name (``os.replace``), so a reader sees either no
file or the whole file, never a half-written one. Every read re-hashes the bytes and refuses
content that no longer matches its key.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from checkout_core.errors import DocumentIntegrityError, NotFound
from checkout_core.ports.documents import StoredObject

_KEY = re.compile(r"[0-9a-f]{64}")

#: Stored files are never rewritten in place, so nobody needs write permission on them; group
#: read lets a backup or audit account in the service's group read them.
_FILE_MODE = 0o440


class DocumentCorrupted(DocumentIntegrityError):
    """A stored file no longer hashes to its key: it was altered or damaged on disk.

    The caller did nothing wrong: the use case records a ``DocumentIntegrityFailed`` event, the
    HTTP layer answers 500 ``document_integrity_failed`` (never a generic 500), and the
    operators restore the file from a backup."""

    def __init__(self, key: str, actual_sha256: str) -> None:
        super().__init__(
            f"stored document {key} is corrupted: its content now hashes to {actual_sha256}",
            storage_key=key,
            actual_sha256=actual_sha256,
        )
        self.key = key


def is_valid_key(key: object) -> bool:
    """Whether ``key`` has the shape of a key this store makes (64 lower-case hex digits)."""
    return isinstance(key, str) and _KEY.fullmatch(key) is not None


def _fsync_directory(path: Path) -> None:
    """Persist a directory entry (a rename, a new file) on POSIX; a no-op where unsupported."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # e.g. Windows cannot open directories; NTFS journals the rename anyway
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


class LocalDocumentStore:
    """Implements :class:`~checkout_core.ports.documents.DocumentStore` on a directory.

    ``root`` is created on the first write. The store is safe to share between threads and
    processes: concurrent writers of the same bytes write the same file, and the last atomic
    rename wins with identical content."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    @property
    def root(self) -> Path:
        """The directory the documents live under."""
        return self._root

    def _path(self, key: str) -> Path:
        # Only ever called with a key that passed is_valid_key (or that we computed ourselves).
        return self._root / key[:2] / key[2:4] / key

    def put(self, content: bytes, content_type: str) -> StoredObject:
        """Store ``content`` under its SHA-256 and return its key, digest and size.

        Storing the same bytes again returns the same key and does not rewrite a healthy file
        (a damaged one is replaced by the good bytes). ``content_type`` is not stored: the
        caller keeps it in its own record, next to the key."""
        data = bytes(content)
        key = hashlib.sha256(data).hexdigest()
        stored = StoredObject(key=key, sha256=key, size=len(data))
        path = self._path(key)
        if self._intact(path, key):
            return stored
        self._make_dirs(path.parent)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                # The data must be on disk before the rename makes it visible, or a power cut
                # could leave a complete-looking name over empty or partial content.
                os.fsync(handle.fileno())
            os.chmod(tmp, _FILE_MODE)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_directory(path.parent)
        return stored

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``.

        Raises :class:`~checkout_core.errors.NotFound` for an unknown key and for anything that
        is not a well-formed key (callers cannot tell the two apart, so keys cannot be probed),
        and :class:`DocumentCorrupted` when the file no longer hashes to ``key``."""
        if not is_valid_key(key):
            raise NotFound("document not found")
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound("document not found") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != key:
            raise DocumentCorrupted(key, actual)
        return data

    def verify(self, key: str) -> bool:
        """True when a document is stored under ``key`` and its bytes still hash to ``key``.

        False for a malformed key, a missing file or altered content (for audits)."""
        return is_valid_key(key) and self._intact(self._path(key), key)

    def keys(self) -> Iterator[str]:
        """Every document key under the root, in key order (for audits and migrations);
        temporary files and anything else that is not a key are left out."""
        if not self._root.is_dir():
            return
        for first in sorted(self._root.iterdir()):
            if len(first.name) != 2 or not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                if not second.is_dir():
                    continue
                for path in sorted(second.iterdir()):
                    if is_valid_key(path.name) and path.name[:4] == first.name + second.name:
                        yield path.name

    @staticmethod
    def _intact(path: Path, key: str) -> bool:
        digest = hashlib.sha256()
        try:
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return digest.hexdigest() == key

    def _make_dirs(self, directory: Path) -> None:
        """Create ``root/ab/cd`` as needed, persisting each new directory entry."""
        missing: list[Path] = []
        current = directory
        while not current.exists():
            missing.append(current)
            if current == self._root or current.parent == current:
                break
            current = current.parent
        directory.mkdir(parents=True, exist_ok=True)
        for created in reversed(missing):
            _fsync_directory(created.parent)
