"""The content-addressed local document store."""

from __future__ import annotations

import hashlib
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from adapters.documents.local_store import DocumentCorrupted, LocalDocumentStore, is_valid_key
from checkout_core.errors import NotFound

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def store(tmp_path: Path) -> LocalDocumentStore:
    """A store rooted in a fresh directory (created by the first write)."""
    return LocalDocumentStore(tmp_path / "documents")


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_round_trip_keys_by_sha256_under_a_fanned_out_path(store: LocalDocumentStore) -> None:
    stored = store.put(PDF, "application/pdf")
    digest = hashlib.sha256(PDF).hexdigest()
    assert (stored.key, stored.sha256, stored.size) == (digest, digest, len(PDF))
    assert store.get(stored.key) == PDF
    assert _files(store.root) == [store.root / digest[:2] / digest[2:4] / digest]


def test_same_bytes_give_the_same_key_and_one_file(store: LocalDocumentStore) -> None:
    first = store.put(PDF, "application/pdf")
    second = store.put(bytes(PDF), "application/octet-stream")
    other = store.put(PDF + b" ", "application/pdf")
    assert first == second
    assert other.key != first.key
    assert len(_files(store.root)) == 2


def test_empty_content_is_a_document_too(store: LocalDocumentStore) -> None:
    stored = store.put(b"", "text/plain")
    assert stored.key == hashlib.sha256(b"").hexdigest()
    assert store.get(stored.key) == b""


def test_writes_leave_no_temporary_files_and_read_only_documents(store: LocalDocumentStore) -> None:
    for n in range(20):
        store.put(PDF + str(n).encode(), "application/pdf")
    files = _files(store.root)
    assert len(files) == 20
    assert not list(store.root.rglob(".tmp-*"))
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o440 for p in files)


def test_a_failed_write_leaves_neither_a_temporary_nor_a_partial_file(
    store: LocalDocumentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        store.put(PDF, "application/pdf")
    monkeypatch.undo()
    assert _files(store.root) == []
    with pytest.raises(NotFound):
        store.get(hashlib.sha256(PDF).hexdigest())


def test_concurrent_writers_of_the_same_bytes_agree(store: LocalDocumentStore) -> None:
    content = os.urandom(256 * 1024)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: store.put(content, "application/pdf"), range(16)))
    assert len({r.key for r in results}) == 1
    assert store.get(results[0].key) == content
    assert len(_files(store.root)) == 1


def test_unknown_key_is_not_found(store: LocalDocumentStore) -> None:
    store.put(PDF, "application/pdf")
    with pytest.raises(NotFound):
        store.get("0" * 64)
    assert store.verify("0" * 64) is False


@pytest.mark.parametrize(
    "key",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "..",
        "",
        "ab/cd/" + "a" * 64,
        "../" + "a" * 61,
        "A" * 64,  # keys are lower-case hex only
        "a" * 63,
        "a" * 65,
        "a" * 64 + "\n",
        "a" * 63 + "\x00",
        "g" * 64,
        "%2e%2e%2f" + "a" * 55,
    ],
)
def test_keys_that_are_not_content_addresses_never_reach_the_filesystem(
    store: LocalDocumentStore, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put(PDF, "application/pdf")

    def no_reads(self: Path) -> bytes:
        raise AssertionError(f"tried to read {self}")

    monkeypatch.setattr(Path, "read_bytes", no_reads)
    assert not is_valid_key(key)
    with pytest.raises(NotFound):
        store.get(key)
    assert store.verify(key) is False


def test_a_key_naming_a_file_outside_the_root_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not a document")
    store = LocalDocumentStore(tmp_path / "documents" / "x" / "y")
    with pytest.raises(NotFound):
        store.get("../../../secret.txt")


def test_corruption_is_detected_on_read_and_by_verify(store: LocalDocumentStore) -> None:
    stored = store.put(PDF, "application/pdf")
    path = _files(store.root)[0]
    path.chmod(0o640)
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01
    path.write_bytes(bytes(data))

    assert store.verify(stored.key) is False
    with pytest.raises(DocumentCorrupted) as caught:
        store.get(stored.key)
    assert caught.value.key == stored.key
    assert caught.value.actual_sha256 == hashlib.sha256(bytes(data)).hexdigest()
    assert stored.key in str(caught.value)

    # Storing the good bytes again repairs the file.
    assert store.put(PDF, "application/pdf") == stored
    assert store.verify(stored.key) is True
    assert store.get(stored.key) == PDF


def test_a_truncated_file_is_corrupt_too(store: LocalDocumentStore) -> None:
    stored = store.put(PDF, "application/pdf")
    path = _files(store.root)[0]
    path.chmod(0o640)
    path.write_bytes(PDF[:5])
    with pytest.raises(DocumentCorrupted):
        store.get(stored.key)


def test_verify_accepts_an_intact_document(store: LocalDocumentStore) -> None:
    assert store.verify(store.put(PDF, "application/pdf").key) is True


def test_a_missing_root_is_simply_empty(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path / "nowhere")
    with pytest.raises(NotFound):
        store.get("a" * 64)
    assert not (tmp_path / "nowhere").exists()
