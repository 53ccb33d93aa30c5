"""A real S3 API server for the tests: moto's standalone server (``moto_server``, from the
``moto[server]`` dev dependency), started once per test session on a free port as a separate
process, and a fresh private bucket per test.

It is started by the tests themselves, so it is never "unavailable": a server that does not come
up is a test error, under CI or not. Processes the tests start (``checkout serve`` …) reach it
through :func:`s3_env`.

Usage: ``from tests.s3_server import s3_endpoint, s3_bucket  # noqa: F401`` in a test module or
conftest, then take ``s3_bucket`` (a :class:`Bucket`) in a test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from bench.servers import free_port

#: moto accepts any credentials; these keep boto3 from looking for real ones.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "ca-central-1",
}


@attrs.frozen
class Bucket:
    """A bucket on the test server: where it is and how a ``checkout`` process is told so."""

    endpoint_url: str
    name: str
    prefix: str = "documents/"

    def client(self) -> Any:
        """A boto3 client on the test server (any credentials: moto does not check them)."""
        from adapters.documents.s3_store import make_client

        with pytest.MonkeyPatch.context() as patch:
            for key, value in CREDENTIALS.items():
                patch.setenv(key, value)
            return make_client(endpoint_url=self.endpoint_url, region=CREDENTIALS["AWS_DEFAULT_REGION"])

    def env(self) -> dict[str, str]:
        """The settings of a ``checkout`` process that keeps its documents in this bucket."""
        return {
            **CREDENTIALS,
            "CHECKOUT_DOCUMENT_STORE": "s3",
            "CHECKOUT_S3_BUCKET": self.name,
            "CHECKOUT_S3_PREFIX": self.prefix,
            "CHECKOUT_S3_ENDPOINT_URL": self.endpoint_url,
        }


def _moto_server() -> str:
    path = Path(sys.executable).parent / "moto_server"
    if not path.exists():
        pytest.fail(f"{path} is missing: the moto[server] dev dependency is not installed (uv sync)", pytrace=False)
    return str(path)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a moto S3 server running for this test session."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [_moto_server(), "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **CREDENTIALS},
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"moto_server exited with {process.returncode}: {log.read_text()[-2000:]}", pytrace=False)
            try:
                httpx.get(url + "/moto-api/", timeout=1.0)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not answer on {url} within 30 s", pytrace=False)
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> Bucket:
    """A new, empty, private bucket (versioned, as production's should be) on the test server."""
    bucket = Bucket(endpoint_url=s3_endpoint, name=f"test-{uuid.uuid4().hex[:20]}")
    client = bucket.client()
    client.create_bucket(
        Bucket=bucket.name, CreateBucketConfiguration={"LocationConstraint": CREDENTIALS["AWS_DEFAULT_REGION"]}
    )
    client.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})
    client.put_public_access_block(
        Bucket=bucket.name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    return bucket
