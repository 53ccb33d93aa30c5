"""Share-nothing hosts: the document store setting, what a production start refuses, the
Dropbox Sign test mode that must be stated, and the composition root on a real S3 API server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.documents.certificates import SEAL_OBJECT, load_signing_material
from adapters.documents.local_store import LocalDocumentStore
from adapters.documents.s3_store import S3DocumentStore
from entrypoints.bootstrap import bootstrap
from entrypoints.cli.main import cli
from entrypoints.settings import SettingsError, load_settings, require_production_ready
from tests import s3_server
from tests.s3_server import CREDENTIALS, Bucket

s3_endpoint = s3_server.s3_endpoint  # the fixtures, for this module
s3_bucket = s3_server.s3_bucket

POSTGRES = {"CHECKOUT_DATABASE_URL": "postgresql://u@h/db", "CHECKOUT_REDIS_URL": "redis://h:6379/0"}
READY = {
    **POSTGRES,
    "CHECKOUT_JWT_SECRET": "j" * 40,
    "CHECKOUT_PAYMENT_GATEWAY": "stripe",
    "STRIPE_API_KEY": "sk_test_x",
    "CHECKOUT_DOCUMENT_STORE": "s3",
    "CHECKOUT_S3_BUCKET": "docs",
}


def test_the_embedded_default_is_development_and_keeps_documents_locally() -> None:
    settings = load_settings({})
    assert (settings.is_production, settings.document_store, settings.s3_presigned_seconds) == (False, "local", 0)
    require_production_ready(settings)


def test_s3_settings_are_read_and_checked() -> None:
    settings = load_settings(
        {
            "CHECKOUT_DOCUMENT_STORE": "s3",
            "CHECKOUT_S3_BUCKET": "dealer-docs",
            "CHECKOUT_S3_PREFIX": "checkout",
            "CHECKOUT_S3_ENDPOINT_URL": "http://minio:9000",
            "CHECKOUT_S3_PRESIGNED_SECONDS": "120",
        }
    )
    assert (settings.s3_bucket, settings.s3_prefix, settings.s3_endpoint_url) == (
        "dealer-docs",
        "checkout/",
        "http://minio:9000",
    )
    assert settings.s3_presigned_seconds == 120
    for env, variable in [
        ({"CHECKOUT_DOCUMENT_STORE": "s3"}, "CHECKOUT_S3_BUCKET"),
        ({"CHECKOUT_DOCUMENT_STORE": "nfs"}, "CHECKOUT_DOCUMENT_STORE"),
        ({"CHECKOUT_S3_ENDPOINT_URL": "minio:9000"}, "CHECKOUT_S3_ENDPOINT_URL"),
        ({"CHECKOUT_S3_PREFIX": "../other"}, "CHECKOUT_S3_PREFIX"),
        ({"CHECKOUT_S3_PRESIGNED_SECONDS": "86400"}, "CHECKOUT_S3_PRESIGNED_SECONDS"),
        ({"CHECKOUT_ENV": "staging"}, "CHECKOUT_ENV"),
    ]:
        with pytest.raises(SettingsError, match=variable):
            load_settings(env)


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("CHECKOUT_JWT_SECRET", "CHECKOUT_JWT_SECRET is required"),
        ("CHECKOUT_PAYMENT_GATEWAY", "sandbox is for development only"),
        ("CHECKOUT_DOCUMENT_STORE", "CHECKOUT_DOCUMENT_STORE=s3"),
    ],
)
def test_a_production_start_refuses_host_local_state(missing: str, named: str) -> None:
    require_production_ready(load_settings(READY))
    settings = load_settings({k: v for k, v in READY.items() if k != missing})
    assert settings.is_production
    with pytest.raises(SettingsError, match=named):
        require_production_ready(settings)
    # Stated development on PostgreSQL runs without them (the benchmarks, the process tests).
    require_production_ready(load_settings({**POSTGRES, "CHECKOUT_ENV": "development"}))
    # And production can be stated on SQLite too.
    with pytest.raises(SettingsError, match="CHECKOUT_JWT_SECRET"):
        require_production_ready(load_settings({"CHECKOUT_ENV": "production"}))


def test_checkout_serve_refuses_with_a_message_and_no_traceback(tmp_path: Path) -> None:
    env = {**POSTGRES, "CHECKOUT_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli, ["serve", "--port", "8999"], env=env)
    assert result.exit_code == 2
    assert "CHECKOUT_JWT_SECRET is required in production" in result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.iterdir())  # refused before anything was created


def test_dropbox_sign_needs_its_test_mode_stated() -> None:
    provider = {"CHECKOUT_SIGNING_PROVIDER": "dropbox_sign", "DROPBOX_SIGN_API_KEY": "k"}
    with pytest.raises(SettingsError, match="DROPBOX_SIGN_TEST_MODE must be set"):
        load_settings(provider)
    assert load_settings({**provider, "DROPBOX_SIGN_TEST_MODE": "false"}).dropbox_sign_test_mode is False
    assert load_settings({**provider, "DROPBOX_SIGN_TEST_MODE": "true"}).dropbox_sign_test_mode is True


def test_bootstrap_keeps_documents_and_the_generated_seal_in_the_bucket(
    tmp_path: Path, s3_bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    certificates = []
    for host in ("host-a", "host-b"):
        settings = load_settings({"CHECKOUT_DATA_DIR": str(tmp_path / host), **s3_bucket.env()})
        app = bootstrap(settings)
        try:
            store = app.ctx.documents
            assert isinstance(store, S3DocumentStore)
            stored = store.put(b"%PDF-1.7 agreement", "application/pdf")
            assert store.get(stored.key) == b"%PDF-1.7 agreement"
            pair = load_signing_material(
                tmp_path / host / "signing-cache" / "cert.pem", tmp_path / host / "signing-cache" / "key.pem"
            )
            certificates.append(pair.certificate)
        finally:
            app.close()
        assert not (tmp_path / host / "documents").exists()
        assert not (tmp_path / host / "signing").exists()
    assert certificates[0] == certificates[1]  # one seal for every host, generated once
    assert store.read(SEAL_OBJECT) is not None


def test_a_missing_bucket_stops_the_cli_with_its_name(tmp_path: Path, s3_bucket: Bucket) -> None:
    env = {**s3_bucket.env(), "CHECKOUT_S3_BUCKET": "no-such-bucket", "CHECKOUT_DATA_DIR": str(tmp_path)}
    assert CliRunner().invoke(cli, ["db", "upgrade"], env=env).exit_code == 0  # the database exists
    result = CliRunner().invoke(cli, ["documents", "verify", "ord_x"], env=env)
    assert result.exit_code == 5, result.output
    assert "the document bucket 'no-such-bucket' does not exist" in result.output
    assert "Traceback" not in result.output


def test_the_local_store_stays_the_embedded_default(tmp_path: Path) -> None:
    app = bootstrap(load_settings({"CHECKOUT_DATA_DIR": str(tmp_path)}))
    try:
        assert isinstance(app.ctx.documents, LocalDocumentStore)
    finally:
        app.close()


def test_the_embedded_default_never_loads_boto3(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from entrypoints.bootstrap import bootstrap\n"
        "from entrypoints.settings import load_settings\n"
        "import adapters.documents.s3_store\n"
        f"app = bootstrap(load_settings({{'CHECKOUT_DATA_DIR': {str(tmp_path)!r}}}))\n"
        "app.close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


def test_no_process_generates_a_jwt_secret_in_production(tmp_path: Path) -> None:
    env = {"CHECKOUT_ENV": "production", "CHECKOUT_DATA_DIR": str(tmp_path)}
    assert CliRunner().invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    result = CliRunner().invoke(cli, ["tokens", "issue", "--customer", "cus_demo"], env=env)
    assert result.exit_code == 2
    assert "CHECKOUT_JWT_SECRET is required in production" in result.output
    assert not (tmp_path / "jwt-secret").exists()
