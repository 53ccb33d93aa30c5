"""The sealing certificate: self-signed once in the data directory, or configured; checked on load."""

from __future__ import annotations

import io
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from reportlab.pdfgen.canvas import Canvas

from adapters.documents import certificates
from adapters.documents.agreement_pdf import ReportlabAgreementRenderer
from adapters.documents.certificates import SigningMaterialError, ensure_self_signed, load_signing_material
from adapters.documents.local_store import LocalDocumentStore
from adapters.documents.signed_copy import StampedSignedCopyMaker
from checkout_core.ports.documents import SignatureEvidence
from entrypoints.bootstrap import _DeferredRenderer, _DeferredSignedCopyMaker, _documents
from entrypoints.settings import Settings, SettingsError


def test_the_self_signed_pair_is_made_once_with_a_private_key_file(
    signing_material: tuple[Path, Path], tmp_path: Path
) -> None:
    cert_path, key_path = signing_material
    assert (cert_path.name, key_path.name, cert_path.parent.name) == ("cert.pem", "key.pem", "signing")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    again = ensure_self_signed(cert_path.parent.parent, organization="Another Name")
    assert again == signing_material
    assert again[0].read_bytes() == cert_path.read_bytes()


def test_the_self_signed_certificate_is_fit_for_document_signatures(signing_material: tuple[Path, Path]) -> None:
    material = load_signing_material(*signing_material)
    certificate = material.certificate
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment  # non-repudiation, which PDF validators require by default
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert "Clutch Clone Motors Inc." in certificate.subject.rfc4514_string()
    assert (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days >= 3650


def test_racing_processes_publish_exactly_one_matching_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    contenders = 4
    everyone_generated = threading.Barrier(contenders)
    generate = certificates._self_signed_pair

    def generate_then_wait(organization: str, now: datetime) -> tuple[bytes, bytes]:
        # Every contender has its own pair before any of them publishes: a true race on the rename.
        pair = generate(organization, now)
        everyone_generated.wait(timeout=30)
        return pair

    monkeypatch.setattr(certificates, "_self_signed_pair", generate_then_wait)
    with ThreadPoolExecutor(max_workers=contenders) as pool:
        results = list(pool.map(lambda _: ensure_self_signed(tmp_path), range(contenders)))
    assert len(set(results)) == 1
    load_signing_material(*results[0])  # the key belongs to the certificate
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signing"]  # no staging directory left behind
    assert sorted(p.name for p in (tmp_path / "signing").iterdir()) == ["cert.pem", "key.pem"]


def test_a_half_missing_pair_is_not_silently_replaced(tmp_path: Path) -> None:
    cert_path, key_path = ensure_self_signed(tmp_path)
    key_path.unlink()
    with pytest.raises(SigningMaterialError, match=r"lacks cert\.pem or key\.pem"):
        ensure_self_signed(tmp_path)
    assert cert_path.exists()


def test_a_key_that_is_not_the_certificates_is_refused(signing_material: tuple[Path, Path], tmp_path: Path) -> None:
    other_key = tmp_path / "other-key.pem"
    other_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(SigningMaterialError, match="does not belong to the certificate"):
        StampedSignedCopyMaker(signing_material[0], other_key)


def test_unreadable_files_are_named_in_the_error(signing_material: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(SigningMaterialError, match=r"missing-cert\.pem"):
        load_signing_material(tmp_path / "missing-cert.pem", signing_material[1])
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(SigningMaterialError, match=r"junk\.pem"):
        load_signing_material(junk, signing_material[1])
    with pytest.raises(SigningMaterialError, match=r"junk\.pem"):
        load_signing_material(signing_material[0], junk)


def test_der_files_load_too(signing_material: tuple[Path, Path], tmp_path: Path) -> None:
    material = load_signing_material(*signing_material)
    cert_der, key_der = tmp_path / "cert.der", tmp_path / "key.der"
    cert_der.write_bytes(material.certificate.public_bytes(serialization.Encoding.DER))
    key_der.write_bytes(
        material.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    assert load_signing_material(cert_der, key_der).certificate == material.certificate


def _ca_style_rsa_pair(directory: Path) -> tuple[Path, Path]:
    """An RSA certificate with a traditional (PKCS#1) PEM key, as a CA-issued setup might have."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Clutch Clone Motors Inc. seal")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "seal.crt", directory / "seal.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_a_configured_rsa_certificate_seals_verifiable_copies(tmp_path: Path) -> None:
    maker = StampedSignedCopyMaker(*_ca_style_rsa_pair(tmp_path))
    agreement = _minimal_pdf()
    evidence = SignatureEvidence(signer_name="John Doe", signer_email="john@example.com", signed_at=datetime.now(UTC))
    signed = maker.make_signed_copy(agreement, evidence)
    assert maker.check(signed).ok


def _minimal_pdf() -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, invariant=1)
    canvas.drawString(72, 720, "Vehicle purchase agreement")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# -- the composition root -----------------------------------------------------------------------


def test_bootstrap_builds_the_document_adapters_with_a_self_signed_default(tmp_path: Path) -> None:
    store, renderer, maker = _documents(Settings(data_dir=tmp_path, return_window_days=7))
    assert isinstance(store, LocalDocumentStore)
    assert store.root == tmp_path / "documents"
    assert isinstance(renderer, _DeferredRenderer)  # reportlab loads with the first agreement
    assert isinstance(renderer.loaded(), ReportlabAgreementRenderer)
    assert (tmp_path / "signing" / "cert.pem").is_file()  # resolved at start, before first use
    assert isinstance(maker, _DeferredSignedCopyMaker)
    inner = maker.loaded()
    assert isinstance(inner, StampedSignedCopyMaker)
    assert "Clutch Clone Motors Inc." in inner.certificate.subject.rfc4514_string()


def test_bootstrap_uses_the_configured_certificate(signing_material: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = signing_material
    _, _, maker = _documents(Settings(data_dir=tmp_path, signing_cert_file=str(cert), signing_key_file=str(key)))
    assert isinstance(maker, _DeferredSignedCopyMaker)
    inner = maker.loaded()
    assert isinstance(inner, StampedSignedCopyMaker)
    assert inner.certificate == load_signing_material(cert, key).certificate
    assert not (tmp_path / "signing").exists()


def test_bootstrap_refuses_half_a_certificate_configuration(
    signing_material: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match="must be set together"):
        _documents(Settings(data_dir=tmp_path, signing_cert_file=str(signing_material[0])))
