"""``checkout documents migrate --to s3``: a data directory's documents into a bucket on a real
S3 API server — resumable, verified, and loud about a damaged source file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.documents.local_store import LocalDocumentStore
from adapters.documents.s3_store import S3DocumentStore
from entrypoints.cli.main import cli
from tests import s3_server
from tests.s3_server import Bucket

s3_endpoint = s3_server.s3_endpoint  # the fixtures, for this module
s3_bucket = s3_server.s3_bucket

DOCUMENTS = [b"%%PDF-1.7 agreement %d" % n for n in range(12)]


def _migrate(data_dir: Path, bucket: Bucket, *args: str) -> tuple[int, str]:
    env = {**bucket.env(), "CHECKOUT_DOCUMENT_STORE": "local", "CHECKOUT_DATA_DIR": str(data_dir)}
    result = CliRunner().invoke(cli, ["documents", "migrate", "--to", "s3", *args], env=env)
    return result.exit_code, result.output


def test_documents_are_copied_verified_and_a_second_run_copies_nothing(tmp_path: Path, s3_bucket: Bucket) -> None:
    local = LocalDocumentStore(tmp_path / "documents")
    keys = [local.put(d, "application/pdf").key for d in DOCUMENTS]
    bucket = S3DocumentStore(s3_bucket.client(), s3_bucket.name, prefix=s3_bucket.prefix)
    bucket.put(DOCUMENTS[0], "application/pdf")  # an interrupted earlier run got this far

    code, output = _migrate(tmp_path, s3_bucket, "--json")
    assert code == 0, output
    assert json.loads(output) == {"total": 12, "copied": 11, "alreadyThere": 1, "verified": 12, "problems": []}
    assert sorted(bucket.keys()) == sorted(keys)
    assert all(bucket.get(k) == d for k, d in zip(keys, DOCUMENTS, strict=True))

    code, output = _migrate(tmp_path, s3_bucket)
    assert code == 0, output
    assert "12 document(s): 0 copied, 12 already there, 12 verified in the bucket, 0 problem(s)" in output


def test_a_damaged_source_file_is_not_copied_and_fails_the_run(tmp_path: Path, s3_bucket: Bucket) -> None:
    local = LocalDocumentStore(tmp_path / "documents")
    good, bad = (local.put(d, "application/pdf").key for d in DOCUMENTS[:2])
    path = local.root / bad[:2] / bad[2:4] / bad
    path.chmod(0o640)
    path.write_bytes(b"flipped bits")

    code, output = _migrate(tmp_path, s3_bucket)
    assert code == 1
    assert f"document {bad}: not copied, the source file is damaged" in output
    bucket = S3DocumentStore(s3_bucket.client(), s3_bucket.name, prefix=s3_bucket.prefix)
    assert list(bucket.keys()) == [good]
    assert hashlib.sha256(bucket.get(good)).hexdigest() == good


def test_the_bucket_must_be_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["documents", "migrate", "--to", "s3"], env={"CHECKOUT_DATA_DIR": str(tmp_path), "CHECKOUT_S3_BUCKET": ""}
    )
    assert result.exit_code == 2
    assert "CHECKOUT_S3_BUCKET" in result.output


@pytest.mark.parametrize("destination", ["nfs", "local"])
def test_only_s3_is_a_destination(tmp_path: Path, destination: str) -> None:
    result = CliRunner().invoke(cli, ["documents", "migrate", "--to", destination])
    assert result.exit_code == 2
