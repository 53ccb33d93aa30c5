"""A content-addressed document store in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2…).

The storage key is the SHA-256 of the bytes, as in
:class:`~adapters.documents.local_store.LocalDocumentStore`, and the object name mirrors the
local layout: ``<prefix>ab/cd/abcd…``. So a data directory's ``documents/`` tree and a bucket
hold the same names, and ``checkout documents migrate --to s3`` only copies.

Integrity, end to end:

* **on write** the request carries the SHA-256 (``x-amz-checksum-sha256``): the server computes
  its own and refuses the upload when they differ, so a body damaged in transit is never stored;
* **never overwritten**: the upload is conditional (``If-None-Match: *``), so an existing object
  is never replaced — a second writer of the same document gets "already there" and checks that
  what is there is intact;
* **on read** the bytes are re-hashed and compared with the key (and the server's stored
  checksum is asked for, which the SDK checks too): an object replaced behind our back raises
  :class:`~adapters.documents.local_store.DocumentCorrupted`, exactly as a damaged file does.

Objects are private: no ACL is ever granted, downloads go through the API's owner check, or
(behind ``CHECKOUT_S3_PRESIGNED_SECONDS``) a presigned URL valid for a few minutes.

boto3 is imported only here, and this module only by the composition root when
``CHECKOUT_DOCUMENT_STORE=s3``: the core and the embedded default never load it."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

from adapters.documents.local_store import DocumentCorrupted, is_valid_key
from checkout_core.errors import NotFound
from checkout_core.ports.documents import StoredObject

#: boto3 builds its clients at run time and ships no type information (no stubs installed).
S3Client = Any

#: Error codes an S3 API answers a conditional write with when the object already exists:
#: 412 when it does, 409 when a concurrent conditional write of the same name is in flight.
_ALREADY_THERE = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


class S3StoreError(OSError):
    """The bucket cannot be used (does not exist, access denied, unreachable); the message says which."""


def object_name(prefix: str, key: str) -> str:
    """``<prefix>ab/cd/<key>``: the local store's layout, under the configured prefix."""
    return f"{prefix}{key[:2]}/{key[2:4]}/{key}"


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def make_client(*, endpoint_url: str = "", region: str = "") -> S3Client:
    """A boto3 S3 client; region and credentials come from the standard ``AWS_*`` variables
    (or the instance's role). ``endpoint_url`` points it at an S3-compatible service."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        # Path-style works with every S3-compatible server; AWS accepts it for dotted-free names.
        s3={"addressing_style": "path"} if endpoint_url else {},
        # Checksums only where we ask for them (SHA-256); the SDK still validates what we asked.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    client: S3Client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config)
    return client


class S3DocumentStore:
    """Implements :class:`~checkout_core.ports.documents.DocumentStore` on an S3 bucket.

    Thread-safe (boto3 clients are) and shared-nothing: any number of API hosts and workers
    may write the same document at once; exactly one object is ever created."""

    def __init__(self, client: S3Client, bucket: str, *, prefix: str = "") -> None:
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self._client = client
        self._bucket = bucket
        self._prefix = prefix

    @property
    def bucket(self) -> str:
        """The bucket's name."""
        return self._bucket

    @property
    def prefix(self) -> str:
        """The prefix every object name starts with (empty, or ending in ``/``)."""
        return self._prefix

    @property
    def client(self) -> S3Client:
        """The boto3 client (for the sealing pair kept next to the documents)."""
        return self._client

    def check_bucket(self) -> None:
        """Raise :class:`S3StoreError` unless the bucket exists and we may use it (at start)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.head_bucket(Bucket=self._bucket)
        except ClientError as error:
            code = _error_code(error)
            reason = "does not exist" if code in _MISSING | {"NoSuchBucket"} else f"cannot be used ({code})"
            raise S3StoreError(f"the document bucket {self._bucket!r} {reason}") from None
        except BotoCoreError as error:
            raise S3StoreError(f"the document bucket {self._bucket!r} cannot be reached: {error}") from None

    def put(self, content: bytes, content_type: str) -> StoredObject:
        """Store ``content`` under its SHA-256, unless an intact copy is already there.

        Raises :class:`DocumentCorrupted` when an object of that name exists but no longer
        holds these bytes: it is not overwritten (the bucket's versioning keeps the evidence,
        and operators restore it), and the caller's write fails loudly instead."""
        data = bytes(content)
        digest = hashlib.sha256(data)
        key = digest.hexdigest()
        stored = StoredObject(key=key, sha256=key, size=len(data))
        if self._put_new(self._object(key), data, content_type, _b64(digest.digest())):
            return stored
        actual = self._hash_of(key)
        if actual is None:
            # Listed as existing, gone when read (deleted in between): write it again.
            if self._put_new(self._object(key), data, content_type, _b64(digest.digest())):
                return stored
            actual = self._hash_of(key)
        if actual != key:
            raise DocumentCorrupted(key, actual or "(unreadable)")
        return stored

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; :class:`~checkout_core.errors.NotFound` for an
        unknown or malformed key, :class:`DocumentCorrupted` when they no longer hash to it."""
        data = self._read(key)
        actual = hashlib.sha256(data).hexdigest()
        if actual != key:
            raise DocumentCorrupted(key, actual)
        return data

    def verify(self, key: str) -> bool:
        """True when an object is stored under ``key`` and its bytes still hash to ``key``."""
        return is_valid_key(key) and self._hash_of(key) == key

    def contains(self, key: str) -> bool:
        """Whether an object exists under ``key`` (one HEAD request, the bytes are not read).

        Enough to resume a migration: objects are only ever created whole and checksummed."""
        from botocore.exceptions import ClientError

        if not is_valid_key(key):
            return False
        try:
            self._client.head_object(Bucket=self._bucket, Key=self._object(key))
        except ClientError as error:
            if _error_code(error) in _MISSING:
                return False
            raise
        return True

    def presigned_url(self, key: str, *, filename: str, content_type: str, expires_seconds: int) -> str:
        """A GET URL for ``key`` valid ``expires_seconds``, answered as a download named
        ``filename`` (for ``CHECKOUT_S3_PRESIGNED_SECONDS``; the caller checks ownership first)."""
        if not is_valid_key(key):
            raise NotFound("document not found")
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": self._object(key),
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
                "ResponseContentType": content_type,
                "ResponseCacheControl": "private, no-store",
            },
            ExpiresIn=expires_seconds,
        )
        return url

    def keys(self) -> Iterator[str]:
        """Every document key in the bucket under the prefix (for audits and migrations)."""
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=self._prefix):
            for item in page.get("Contents", []):
                name = item["Key"].rsplit("/", 1)[-1]
                if is_valid_key(name):
                    yield name

    # -- named objects next to the documents (the sealing pair): certificates.SealVault -------

    def create_once(self, name: str, content: bytes) -> bool:
        """Create ``<prefix><name>``; False when it already exists (never replaced)."""
        digest = hashlib.sha256(content).digest()
        return self._put_new(self._prefix + name, content, "application/octet-stream", _b64(digest))

    def read(self, name: str) -> bytes | None:
        """The content of ``<prefix><name>``, None when there is none."""
        from botocore.exceptions import ClientError

        try:
            response = self._client.get_object(Bucket=self._bucket, Key=self._prefix + name)
        except ClientError as error:
            if _error_code(error) in _MISSING:
                return None
            raise
        body: bytes = response["Body"].read()
        return body

    # -- the bucket ---------------------------------------------------------------------------

    def _object(self, key: str) -> str:
        return object_name(self._prefix, key)

    def _put_new(self, name: str, data: bytes, content_type: str, checksum: str) -> bool:
        """Create ``name``; False when it already exists (never replaced)."""
        from botocore.exceptions import ClientError

        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=name,
                Body=data,
                ContentType=content_type,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
                IfNoneMatch="*",
            )
        except ClientError as error:
            if _error_code(error) in _ALREADY_THERE:
                return False
            raise
        return True

    def _read(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        if not is_valid_key(key):
            raise NotFound("document not found")
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=self._object(key), ChecksumMode="ENABLED")
        except ClientError as error:
            if _error_code(error) in _MISSING:
                raise NotFound("document not found") from None
            raise
        body: bytes = response["Body"].read()
        stored_checksum = response.get("ChecksumSHA256")
        if stored_checksum and stored_checksum.partition("-")[0] != _b64(hashlib.sha256(body).digest()):
            # The server's own checksum disagrees with the bytes it sent: damaged in transit or at rest.
            raise DocumentCorrupted(key, hashlib.sha256(body).hexdigest())
        return body

    def _hash_of(self, key: str) -> str | None:
        """The SHA-256 of what is stored under ``key``, None when nothing is."""
        try:
            return hashlib.sha256(self._read(key)).hexdigest()
        except NotFound:
            return None
        except DocumentCorrupted as error:
            return error.actual_sha256
