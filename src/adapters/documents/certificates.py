"""The certificate and key that seal signed agreements.

Production configures a certificate issued by a CA the business trusts (PEM or DER files).
The embedded default generates a self-signed one, once, in the data directory::

    data_dir/signing/cert.pem   the certificate (share it with anyone who verifies a copy)
    data_dir/signing/key.pem    the private key, mode 0600

Generation is race-safe across processes: each contender builds the pair in its own temporary
directory and publishes it with one atomic directory rename; a rename onto an existing
``signing`` directory fails, the loser throws its pair away and uses the winner's. So the
certificate and key on disk always belong together, and are never half-written.

With the documents in a bucket (``CHECKOUT_DOCUMENT_STORE=s3``) and no configured pair, the
generated pair lives in the bucket instead (:func:`ensure_self_signed_in`), as one object created
once with a conditional write, so every host seals with the same certificate and no host keeps
anything it could not lose.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import attrs

# cryptography (~9 MB, 50 modules) is imported by the functions that read or make a key: a
# process whose pair already exists on disk (every API worker) never loads it for the seal.
if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

SIGNING_DIR = "signing"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"

#: A self-signed seal is its own trust anchor; ten years covers the retention of a bill of sale.
SELF_SIGNED_VALIDITY = timedelta(days=3650)


class SigningMaterialError(ValueError):
    """The signing certificate or key is missing, unreadable, or the two do not belong together."""


@attrs.frozen(kw_only=True)
class SigningMaterial:
    """A certificate with its private key, loaded and checked to match."""

    certificate: x509.Certificate
    private_key: PrivateKeyTypes = attrs.field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()
    """Intermediate certificates to embed so verifiers can build the path to a root."""


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SigningMaterialError(f"cannot read the signing {what} {str(path)!r}: {exc.strerror or exc}") from None


def _load_certificates(data: bytes, path: Path) -> list[x509.Certificate]:
    from cryptography import x509

    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise SigningMaterialError(f"{str(path)!r} holds no readable X.509 certificate (PEM or DER)") from None


def load_signing_material(cert_file: Path, key_file: Path, *, key_passphrase: bytes | None = None) -> SigningMaterial:
    """Load the certificate (PEM may hold the chain after it) and the private key, PEM or DER.

    Raises :class:`SigningMaterialError` naming the file when one cannot be read, and when the
    key is not the certificate's: a mismatched pair would produce seals nobody can verify."""
    from cryptography.hazmat.primitives import serialization

    certificates = _load_certificates(_read(cert_file, "certificate"), cert_file)
    key_data = _read(key_file, "key")
    try:
        if b"-----BEGIN" in key_data:
            key = serialization.load_pem_private_key(key_data, password=key_passphrase)
        else:
            key = serialization.load_der_private_key(key_data, password=key_passphrase)
    except (ValueError, TypeError) as exc:
        raise SigningMaterialError(f"{str(key_file)!r} holds no usable private key: {exc}") from None
    certificate = certificates[0]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, spki) != certificate.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ):
        raise SigningMaterialError(
            f"the private key in {str(key_file)!r} does not belong to the certificate in {str(cert_file)!r}"
        )
    return SigningMaterial(certificate=certificate, private_key=key, chain=tuple(certificates[1:]))


def _self_signed_pair(organization: str, now: datetime) -> tuple[bytes, bytes]:
    """PEM bytes of a new self-signed certificate and its ECDSA P-256 key, fit for PDF signatures.

    P-256 rather than RSA: as strong as RSA-3072 and accepted by PAdES validators and Acrobat,
    but generated and loaded in milliseconds, where loading an RSA-3072 key (its consistency
    check) costs 0.1-0.2 s at every start of the program and every CLI command."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organization} document seal (self-signed)"[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization[:64]),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CA"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # A little slack before "now", so a verifier whose clock is slightly behind accepts it.
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + SELF_SIGNED_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # Non-repudiation (content commitment) is what PDF validators, pyHanko's included,
            # require of a document signer's certificate by default.
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def ensure_self_signed(data_dir: Path, *, organization: str = "Checkout") -> tuple[Path, Path]:
    """The paths of the self-signed certificate and key in ``data_dir/signing``, made on first use.

    ``organization`` names the seal's owner in the certificate (the dealer's name). Safe to call
    from several processes at once: exactly one pair is ever published. Raises
    :class:`SigningMaterialError` when ``data_dir/signing`` exists without both files (someone
    removed one: the pair is not silently replaced, since copies sealed with it would stop
    matching the certificate people were given)."""
    target = Path(data_dir) / SIGNING_DIR
    cert_path, key_path = target / CERT_FILE, target / KEY_FILE
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path
    if target.exists() and any(target.iterdir()):
        raise SigningMaterialError(
            f"{str(target)!r} exists but lacks {CERT_FILE} or {KEY_FILE}; restore them, or remove the "
            "directory to generate a new self-signed pair"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{SIGNING_DIR}-"))  # mode 0700
    try:
        cert_pem, key_pem = _self_signed_pair(organization, datetime.now(UTC))
        _write_new(staging / KEY_FILE, key_pem, 0o600)
        _write_new(staging / CERT_FILE, cert_pem, 0o644)
        with contextlib.suppress(OSError):
            # An empty directory left by someone else is replaced; a full one makes this fail.
            target.rmdir()
        try:
            os.rename(staging, target)
        except OSError:
            # Another process published its pair first (ENOTEMPTY / EEXIST): use theirs.
            if not (cert_path.is_file() and key_path.is_file()):
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return cert_path, key_path


#: The object holding the generated pair (key and certificate, PEM) next to the documents.
SEAL_OBJECT = "signing/seal.pem"


class SealVault(Protocol):
    """Somewhere every host can reach that creates an object at most once (the document bucket)."""

    def create_once(self, name: str, content: bytes) -> bool:
        """Create ``name`` with ``content``; False (and nothing written) when it already exists."""
        ...

    def read(self, name: str) -> bytes | None:
        """The content of ``name``, None when it does not exist."""
        ...


def _split_bundle(bundle: bytes) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) from a bundle holding both."""
    begin_key = bundle.find(b"-----BEGIN PRIVATE KEY-----")
    end_marker = b"-----END PRIVATE KEY-----"
    end_key = bundle.find(end_marker)
    if begin_key < 0 or end_key < 0:
        raise SigningMaterialError(f"the sealing pair {SEAL_OBJECT!r} in the document store holds no private key")
    end_key += len(end_marker)
    key = bundle[begin_key:end_key] + b"\n"
    certificate = (bundle[:begin_key] + bundle[end_key:]).strip() + b"\n"
    if b"-----BEGIN CERTIFICATE-----" not in certificate:
        raise SigningMaterialError(f"the sealing pair {SEAL_OBJECT!r} in the document store holds no certificate")
    return certificate, key


def _replace_private(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` atomically with ``mode`` (a cache of what the vault holds)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def ensure_self_signed_in(vault: SealVault, cache_dir: Path, *, organization: str = "Checkout") -> tuple[Path, Path]:
    """The self-signed sealing pair kept in ``vault``: generated by the first host to ask (one
    conditional write, so concurrent first starts agree on one pair), then copied into
    ``cache_dir`` (``cert.pem``, ``key.pem`` 0600) for the PDF signer, which reads files.

    The copy is only a cache, rewritten at every start: losing the host loses nothing."""
    bundle = vault.read(SEAL_OBJECT)
    if bundle is None:
        cert_pem, key_pem = _self_signed_pair(organization, datetime.now(UTC))
        vault.create_once(SEAL_OBJECT, key_pem + cert_pem)  # False: another host was first
        bundle = vault.read(SEAL_OBJECT)
        if bundle is None:
            raise SigningMaterialError(f"the sealing pair {SEAL_OBJECT!r} vanished from the document store")
    cert_pem, key_pem = _split_bundle(bundle)
    cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_path, key_path = cache_dir / CERT_FILE, cache_dir / KEY_FILE
    _replace_private(key_path, key_pem, 0o600)
    _replace_private(cert_path, cert_pem, 0o644)
    load_signing_material(cert_path, key_path)  # a damaged object fails here, at start
    return cert_path, key_path
