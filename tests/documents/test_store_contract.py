"""One contract for every persistent document store: the local directory and an S3 bucket on a
real S3 API server (moto's, started by the tests). Write, read, missing, tamper detection and
concurrent writers of the same document behave the same on both; what only a bucket does
(conditional writes, checksums, privacy, presigned URLs) is tested after the contract."""

from __future__ import annotations

import base64
import hashlib
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import attrs
import httpx
import pytest

from adapters.documents.certificates import SEAL_OBJECT, ensure_self_signed_in, load_signing_material
from adapters.documents.local_store import DocumentCorrupted, LocalDocumentStore
from adapters.documents.s3_store import S3DocumentStore, S3StoreError, object_name
from checkout_core.errors import NotFound
from checkout_core.ports.documents import StoredObject
from tests import s3_server
from tests.s3_server import Bucket

s3_endpoint = s3_server.s3_endpoint  # the fixtures, for this module
s3_bucket = s3_server.s3_bucket

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class Store(Protocol):
    def put(self, content: bytes, content_type: str) -> StoredObject: ...
    def get(self, key: str) -> bytes: ...
    def verify(self, key: str) -> bool: ...


@attrs.frozen
class Subject:
    """A store under test and a way to damage what it keeps behind its back."""

    store: Store
    tamper: Callable[[str, bytes], None]


def _local(tmp_path: Path) -> Subject:
    store = LocalDocumentStore(tmp_path / "documents")

    def tamper(key: str, content: bytes) -> None:
        path = store.root / key[:2] / key[2:4] / key
        path.chmod(0o640)
        path.write_bytes(content)

    return Subject(store, tamper)


def _s3(bucket: Bucket) -> Subject:
    client = bucket.client()
    store = S3DocumentStore(client, bucket.name, prefix=bucket.prefix)

    def tamper(key: str, content: bytes) -> None:
        # Someone with write access to the bucket replaces the object (a new version).
        client.put_object(Bucket=bucket.name, Key=object_name(bucket.prefix, key), Body=content)

    return Subject(store, tamper)


@pytest.fixture(params=["local", "s3"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Subject:
    if request.param == "local":
        return _local(tmp_path)
    return _s3(request.getfixturevalue("s3_bucket"))


def test_write_then_read_by_the_sha256(subject: Subject) -> None:
    stored = subject.store.put(PDF, "application/pdf")
    digest = hashlib.sha256(PDF).hexdigest()
    assert (stored.key, stored.sha256, stored.size) == (digest, digest, len(PDF))
    assert subject.store.get(stored.key) == PDF
    assert subject.store.verify(stored.key)


def test_same_bytes_same_key_other_bytes_other_key(subject: Subject) -> None:
    first = subject.store.put(PDF, "application/pdf")
    again = subject.store.put(bytes(PDF), "application/octet-stream")
    other = subject.store.put(PDF + b" ", "application/pdf")
    assert first == again
    assert other.key != first.key
    assert subject.store.get(other.key) == PDF + b" "


def test_empty_content_is_a_document_too(subject: Subject) -> None:
    stored = subject.store.put(b"", "text/plain")
    assert subject.store.get(stored.key) == b""


@pytest.mark.parametrize(
    "key",
    [hashlib.sha256(b"never stored").hexdigest(), "../../etc/passwd", "ABC", "", "a" * 63, "A" * 64, "g" * 64],
)
def test_missing_or_malformed_keys_are_not_found(subject: Subject, key: str) -> None:
    with pytest.raises(NotFound):
        subject.store.get(key)
    assert not subject.store.verify(key)


def test_tampered_content_is_refused_on_read(subject: Subject) -> None:
    stored = subject.store.put(PDF, "application/pdf")
    subject.tamper(stored.key, PDF.replace(b"1.4", b"1.7"))
    with pytest.raises(DocumentCorrupted) as caught:
        subject.store.get(stored.key)
    assert caught.value.storage_key == stored.key
    assert caught.value.actual_sha256 == hashlib.sha256(PDF.replace(b"1.4", b"1.7")).hexdigest()
    assert not subject.store.verify(stored.key)


def test_concurrent_writers_of_the_same_document_all_get_it(subject: Subject) -> None:
    content = PDF * 2000  # ~90 kB, so the writes overlap
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda _: subject.store.put(content, "application/pdf"), range(24)))
    assert {r.key for r in results} == {hashlib.sha256(content).hexdigest()}
    assert subject.store.get(results[0].key) == content


# -- what only the bucket does ------------------------------------------------------------------


@pytest.fixture
def bucket_store(s3_bucket: Bucket) -> S3DocumentStore:
    return S3DocumentStore(s3_bucket.client(), s3_bucket.name, prefix=s3_bucket.prefix)


def _versions(store: S3DocumentStore, key: str) -> list[dict[str, object]]:
    listed = store.client.list_object_versions(Bucket=store.bucket, Prefix=object_name(store.prefix, key))
    return list(listed.get("Versions", []))


def test_objects_mirror_the_local_layout_with_a_server_side_sha256(bucket_store: S3DocumentStore) -> None:
    stored = bucket_store.put(PDF, "application/pdf")
    name = f"documents/{stored.key[:2]}/{stored.key[2:4]}/{stored.key}"
    head = bucket_store.client.head_object(Bucket=bucket_store.bucket, Key=name, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"].partition("-")[0] == base64.b64encode(hashlib.sha256(PDF).digest()).decode()
    assert head["ContentType"] == "application/pdf"
    assert list(bucket_store.keys()) == [stored.key]


def test_concurrent_writers_create_exactly_one_object_version(bucket_store: S3DocumentStore) -> None:
    content = PDF * 2000
    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(lambda _: bucket_store.put(content, "application/pdf"), range(24)))
    assert len(_versions(bucket_store, hashlib.sha256(content).hexdigest())) == 1


def test_a_tampered_object_is_never_overwritten_by_a_writer(bucket_store: S3DocumentStore) -> None:
    stored = bucket_store.put(PDF, "application/pdf")
    bucket_store.client.put_object(
        Bucket=bucket_store.bucket, Key=object_name(bucket_store.prefix, stored.key), Body=b"forged"
    )
    with pytest.raises(DocumentCorrupted):
        bucket_store.put(PDF, "application/pdf")
    assert len(_versions(bucket_store, stored.key)) == 2  # the original and the forgery, nothing more


def test_objects_are_private(bucket_store: S3DocumentStore, s3_bucket: Bucket) -> None:
    stored = bucket_store.put(PDF, "application/pdf")
    acl = bucket_store.client.get_object_acl(
        Bucket=bucket_store.bucket, Key=object_name(bucket_store.prefix, stored.key)
    )
    assert [grant["Permission"] for grant in acl["Grants"]] == ["FULL_CONTROL"]
    assert acl["Grants"][0]["Grantee"]["ID"] == acl["Owner"]["ID"]


def test_presigned_urls_download_the_document_until_they_expire(bucket_store: S3DocumentStore) -> None:
    stored = bucket_store.put(PDF, "application/pdf")
    url = bucket_store.presigned_url(
        stored.key, filename="doc_1.pdf", content_type="application/pdf", expires_seconds=60
    )
    answer = httpx.get(url)
    assert answer.status_code == 200
    assert answer.content == PDF
    assert answer.headers["content-disposition"] == 'attachment; filename="doc_1.pdf"'
    with pytest.raises(NotFound):
        bucket_store.presigned_url("../x", filename="x", content_type="application/pdf", expires_seconds=60)


def test_a_missing_bucket_is_named_at_start(s3_bucket: Bucket) -> None:
    store = S3DocumentStore(s3_bucket.client(), s3_bucket.name + "-missing")
    with pytest.raises(S3StoreError, match="does not exist"):
        store.check_bucket()
    S3DocumentStore(s3_bucket.client(), s3_bucket.name).check_bucket()


def test_concurrent_first_starts_agree_on_one_seal_pair(bucket_store: S3DocumentStore, tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        pairs = list(
            pool.map(
                lambda n: ensure_self_signed_in(bucket_store, tmp_path / f"host-{n}", organization="Dealer"), range(6)
            )
        )
    certificates = {cert.read_bytes() for cert, _ in pairs}
    assert len(certificates) == 1
    for cert, key in pairs:
        load_signing_material(cert, key)  # each host's cache holds a matching pair
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(_versions_of(bucket_store, bucket_store.prefix + SEAL_OBJECT)) == 1


def _versions_of(store: S3DocumentStore, name: str) -> list[dict[str, object]]:
    return list(store.client.list_object_versions(Bucket=store.bucket, Prefix=name).get("Versions", []))
