"""The signed copy of an agreement: a signature page, then a PAdES digital seal over everything.

1. A signature page (reportlab) records who signed (name, email), when (UTC), from where (IP
   address, user agent), the SHA-256 of the agreement they were shown, and their consent to
   sign electronically.
2. pypdf appends it to the agreement's pages.
3. pyHanko seals the result with a PAdES (ETSI.CAdES.detached) signature made with the dealer's
   certificate. The signature covers every byte of the file except its own value, so changing
   one byte afterwards — a price, a name, the recorded IP — makes validation fail.
4. With a time-stamping authority configured (:class:`TimestampAuthority`, ``CHECKOUT_TSA_URL``),
   the seal carries its RFC 3161 timestamp token (PAdES B-T): a third party's proof that the
   seal existed at that time, which the dealer's own clock cannot give. When the TSA's trust
   anchors are configured too, the certificates and revocation data that validate the seal and
   the timestamp are embedded in the file's DSS (PAdES B-LT), so the copy stays verifiable
   after the TSA's certificate expires or its CRL server is gone.

Both pyHanko's signing and validation run an asyncio event loop internally; this module keeps
its API synchronous, and runs them on a helper thread when the caller's thread already has a
running loop (an async web handler, say), where starting another loop would fail.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import io
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID
from pyhanko.keys import load_certs_from_pemder_data
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash, process_pss_params
from pypdf import PdfReader, PdfWriter
from reportlab.lib.colors import Color
from reportlab.pdfgen.canvas import Canvas

from adapters.documents.agreement_pdf import (
    ACCENT,
    BOLD,
    INK,
    MUTED,
    REGULAR,
    RULE,
    printable,
    wrap,
)
from adapters.documents.certificates import SigningMaterial, SigningMaterialError, load_signing_material
from adapters.documents.signature_lines import local_stamp as _local_stamp
from adapters.documents.signature_lines import sign_on_lines
from checkout_core.ports.documents import SealReport, SignatureEvidence

SEAL_FIELD = "DealerSeal"
log = logging.getLogger("checkout.documents")
T = TypeVar("T")


class SignedCopyError(RuntimeError):
    """The agreement could not be turned into a sealed copy (unreadable PDF, signing failure)."""


def _off_the_loop(work: Callable[[], T]) -> T:
    """Run ``work`` here, or on a helper thread when this thread is already running an event loop.

    pyHanko's synchronous API calls ``asyncio.run``, which refuses to start inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pyhanko") as pool:
        return pool.submit(work).result()


def _der(certificate: x509.Certificate) -> Any:
    """The certificate as pyHanko's (asn1crypto) certificate object."""
    return next(load_certs_from_pemder_data(certificate.public_bytes(serialization.Encoding.DER)))


class _KeySigner(signers.Signer):
    """A pyHanko signer that signs with an already parsed private key.

    pyHanko's SimpleSigner re-parses its key for every signature, and for an RSA key the
    consistency check run by parsing costs ~0.1 s (3072 bits) — twice per document, since pyHanko
    signs once more to size the signature container. RSA (PKCS#1 v1.5, or PSS when the
    certificate says so), ECDSA and Ed25519 keys are supported; others are refused at start."""

    def __init__(self, material: SigningMaterial) -> None:
        key = material.private_key
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            raise SigningMaterialError(f"the signing key is a {type(key).__name__}; use an RSA, ECDSA or Ed25519 key")
        super().__init__(
            signing_cert=_der(material.certificate),
            # pyhanko-certvalidator leaves this classmethod unannotated.
            cert_registry=SimpleCertificateStore.from_certs([_der(c) for c in material.chain]),  # type: ignore[no-untyped-call]
        )
        self._key = key

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        """The raw signature of ``data`` (pyHanko's ``dry_run`` sizing pass signs for real: it is cheap)."""
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        algorithm = mechanism.signature_algo
        key = self._key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        digest = get_pyca_cryptography_hash(digest_algorithm)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(digest))
        if algorithm == "rsassa_pss":
            pss_padding, pss_digest = process_pss_params(mechanism["parameters"])
            return key.sign(data, pss_padding, pss_digest)
        return key.sign(data, padding.PKCS1v15(), digest)


@attrs.frozen(kw_only=True)
class TimestampAuthority:
    """An RFC 3161 time-stamping authority for the seal (``CHECKOUT_TSA_URL``)."""

    url: str
    trust_roots: tuple[x509.Certificate, ...] = ()
    """The TSA's trust anchors (``CHECKOUT_TSA_TRUST_FILE``): with them the timestamp is checked
    as trusted, and the seal embeds its validation data (PAdES B-LT)."""
    timeout: float = 10.0
    """Seconds to wait for the TSA's answer."""


#: The PAdES baseline levels a seal is reported at.
LEVEL_NONE = "none"
LEVEL_B_B = "PAdES B-B"
LEVEL_B_T = "PAdES B-T"
LEVEL_B_LT = "PAdES B-LT"


@attrs.frozen(kw_only=True)
class SealCheck:
    """The outcome of checking a signed copy's digital seal."""

    intact: bool
    """The signed bytes still hash to what was signed."""
    valid: bool
    """The signature over that hash verifies with the certificate's public key."""
    trusted: bool
    """The certificate chains to one of the trusted certificates."""
    covers_whole_file: bool
    """Nothing was added after the seal (no incremental update outside the signed range) but
    validation data (a B-LT seal's DSS, which pyHanko's difference analysis tells apart)."""
    signer: str = ""
    signed_at: datetime | None = None
    problem: str = ""
    """Why the check failed, when it failed before any of the above could be decided."""
    level: str = LEVEL_NONE
    """``PAdES B-B`` (no timestamp), ``PAdES B-T`` (timestamped) or ``PAdES B-LT`` (timestamped,
    with validation data embedded); ``none`` without a seal."""
    timestamp_at: datetime | None = None
    """The time in the seal's RFC 3161 timestamp token (the TSA's clock), if it has one."""
    timestamp_authority: str = ""
    """The TSA certificate's subject."""
    timestamp_sound: bool = False
    """The token is intact and its signature verifies (it timestamps this seal's signature)."""
    timestamp_trusted: bool = False
    """The TSA's certificate chains to one of the trusted TSA anchors."""

    @property
    def ok(self) -> bool:
        """Intact, valid, trusted and covering the whole file; and its timestamp, if any, sound."""
        seal = self.intact and self.valid and self.trusted and self.covers_whole_file
        return seal and (self.timestamp_at is None or self.timestamp_sound)


def check_seal(
    pdf: bytes, trusted: Sequence[x509.Certificate], tsa_trusted: Sequence[x509.Certificate] = ()
) -> SealCheck:
    """Validate the last digital signature of ``pdf`` against ``trusted`` certificates, and its
    timestamp token, if it has one, against ``tsa_trusted``.

    Never raises for a damaged or unsigned file: the result says what is wrong."""

    def work() -> SealCheck:
        try:
            reader = PdfFileReader(io.BytesIO(pdf), strict=False)
            signatures = reader.embedded_signatures
            if not signatures:
                return SealCheck(intact=False, valid=False, trusted=False, covers_whole_file=False, problem="no seal")
            embedded = signatures[-1]
            context = ValidationContext(trust_roots=[_der(c) for c in trusted], allow_fetching=False)
            # Its own context: a TSA is trusted for timestamps, not as a sealer (and vice versa).
            ts_context = ValidationContext(trust_roots=[_der(c) for c in tsa_trusted], allow_fetching=False)
            status = validate_pdf_signature(embedded, context, ts_validation_context=ts_context)
            has_dss = reader.root.get("/DSS") is not None
        except Exception as exc:  # a mangled file can fail anywhere in the parser
            return SealCheck(
                intact=False, valid=False, trusted=False, covers_whole_file=False, problem=f"unreadable: {exc}"
            )
        return SealCheck(
            intact=bool(status.intact),
            valid=bool(status.valid),
            trusted=bool(status.trusted),
            covers_whole_file=_covers_whole_file(status),
            signer=str(status.signing_cert.subject.human_friendly),
            signed_at=status.signer_reported_dt,
            **_timestamp_fields(status.timestamp_validity, has_dss),
        )

    return _off_the_loop(work)


def _covers_whole_file(status: PdfSignatureStatus) -> bool:
    if status.coverage is SignatureCoverageLevel.ENTIRE_FILE:
        return True
    # A B-LT seal is followed by one revision that adds its validation data (DSS) and nothing else.
    return status.coverage is SignatureCoverageLevel.ENTIRE_REVISION and status.modification_level in (
        ModificationLevel.NONE,
        ModificationLevel.LTA_UPDATES,
    )


def _timestamp_fields(token: Any, has_dss: bool) -> dict[str, Any]:
    """SealCheck's level and timestamp fields from pyHanko's ``TimestampSignatureStatus``."""
    if token is None:
        return {"level": LEVEL_B_B}
    return {
        # The DSS holds the certificates and revocation data that keep the seal verifiable.
        "level": LEVEL_B_LT if has_dss else LEVEL_B_T,
        "timestamp_at": token.timestamp,
        "timestamp_authority": str(token.signing_cert.subject.human_friendly),
        "timestamp_sound": bool(token.intact and token.valid),
        "timestamp_trusted": bool(token.trusted),
    }


def _seal_problem(result: SealCheck) -> str:
    """What is wrong with a seal that was read, in words (empty when nothing is)."""
    wrong = [
        text
        for failed, text in (
            (not result.intact, "the sealed bytes were changed"),
            (not result.valid, "the seal's signature does not verify"),
            (not result.trusted, "the sealing certificate is not trusted"),
            (not result.covers_whole_file, "content was added after sealing"),
            (result.timestamp_at is not None and not result.timestamp_sound, "the timestamp token is broken"),
        )
        if failed
    ]
    return "; ".join(wrong)


def _commits_to_content(certificate: x509.Certificate) -> bool:
    """Whether the certificate allows non-repudiation (content commitment), or sets no key usage."""
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return usage.content_commitment


def _utc(moment: datetime) -> datetime:
    # A naive time is taken to be UTC already (the core's clock is always UTC-aware).
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class StampedSignedCopyMaker:
    """Implements :class:`~checkout_core.ports.documents.SignedCopyMaker`: signature page + PAdES seal.

    ``cert_file`` and ``key_file`` are PEM or DER; the certificate file may continue with its
    chain (intermediates are embedded in each signature). The pair is loaded and checked when
    the maker is built, so a wrong configuration stops the program at start, not at a
    customer's signature. Raises :class:`~adapters.documents.certificates.SigningMaterialError`."""

    def __init__(
        self,
        cert_file: Path,
        key_file: Path,
        *,
        key_passphrase: bytes | None = None,
        tsa: TimestampAuthority | None = None,
    ) -> None:
        self._material = load_signing_material(Path(cert_file), Path(key_file), key_passphrase=key_passphrase)
        self._tsa = tsa
        self._signer = _KeySigner(self._material)
        if not _commits_to_content(self._material.certificate):
            log.warning(
                "the sealing certificate lacks the non-repudiation key usage; PDF validators will "
                "reject its seals by default"
            )
        certificate = self._material.certificate
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        self._seal_name = printable(str(names[0].value) if names else certificate.subject.rfc4514_string(), 200)
        self._fingerprint = certificate.fingerprint(hashes.SHA256()).hex()

    @property
    def certificate(self) -> x509.Certificate:
        """The sealing certificate (what verifiers trust, for a self-signed seal)."""
        return self._material.certificate

    def make_signed_copy(
        self, agreement_pdf: bytes, evidence: SignatureEvidence, countersignature: SignatureEvidence | None = None
    ) -> bytes:
        """The agreement with each signature printed on its own signature line (the buyer's
        ``evidence``; the dealer's ``countersignature`` when given), its signature record page,
        and the PAdES seal over everything."""
        signatures = [evidence] if countersignature is None else [evidence, countersignature]
        try:
            agreement = PdfReader(io.BytesIO(agreement_pdf), strict=False)
            pages = len(agreement.pages)
            box = agreement.pages[-1].mediabox
            size = (float(box.width), float(box.height))
            info = agreement.metadata
            title = str(info.get("/Title") or "") if info is not None else ""
            author = str(info.get("/Author") or "") if info is not None else ""
        except Exception as exc:
            raise SignedCopyError(f"the agreement is not a readable PDF: {exc}") from exc

        title = title or "Purchase agreement"
        page = self._signature_page(
            signatures, sha256=hashlib.sha256(agreement_pdf).hexdigest(), pages=pages, title=title, size=size
        )
        merged = PdfWriter()
        merged.append(agreement)
        sign_on_lines(merged, agreement, signatures)
        merged.append(PdfReader(io.BytesIO(page)))
        merged.add_metadata(
            {
                "/Title": f"Signed — {printable(title, 200)}",
                "/Author": printable(author, 200),
                "/Subject": "Purchase agreement with signature record and digital seal",
            }
        )
        buffer = io.BytesIO()
        merged.write(buffer)
        return self._seal(buffer.getvalue(), evidence)

    @property
    def tsa(self) -> TimestampAuthority | None:
        """The time-stamping authority of the seals, if one is configured."""
        return self._tsa

    def check(self, signed_pdf: bytes) -> SealCheck:
        """Check a signed copy against this maker's own certificate and the TSA's anchors (for audits)."""
        return check_seal(signed_pdf, [self._material.certificate], self._tsa.trust_roots if self._tsa else ())

    def check_seal(self, signed_pdf: bytes) -> SealReport:
        """See :class:`checkout_core.ports.documents.SignedCopyMaker`."""
        result = self.check(signed_pdf)
        return SealReport(
            level=result.level,
            ok=result.ok,
            signer=result.signer,
            timestamp_at=result.timestamp_at,
            timestamp_authority=result.timestamp_authority,
            timestamp_trusted=result.timestamp_trusted,
            problem=result.problem or _seal_problem(result),
        )

    # -- internals ---------------------------------------------------------------------------

    def _ltv_context(self, tsa: TimestampAuthority) -> ValidationContext:
        """What validates the seal and the timestamp when their validation data is embedded (B-LT):
        the sealing certificate and its chain, the TSA's anchors; revocation data is fetched from
        the certificates' CRL/OCSP addresses (soft-fail: a certificate that names none is fine)."""
        anchors = [self._material.certificate, *self._material.chain, *tsa.trust_roots]
        return ValidationContext(trust_roots=[_der(c) for c in anchors], allow_fetching=True)

    def _seal(self, pdf: bytes, evidence: SignatureEvidence) -> bytes:
        tsa = self._tsa
        ltv = tsa is not None and bool(tsa.trust_roots)
        metadata = signers.PdfSignatureMetadata(
            field_name=SEAL_FIELD,
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=printable(f"Purchase agreement signed electronically by {evidence.signer_name}", 200),
            embed_validation_info=ltv,
            validation_context=self._ltv_context(tsa) if tsa is not None and ltv else None,
        )
        timestamper = (
            RequestsHTTPTimeStamper(tsa.url, timeout=tsa.timeout)  # type: ignore[no-untyped-call]  # pyHanko leaves it unannotated
            if tsa is not None
            else None
        )

        def work() -> bytes:
            writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
            out = signers.sign_pdf(writer, metadata, signer=self._signer, timestamper=timestamper)
            result: bytes = out.getvalue()
            return result

        try:
            return _off_the_loop(work)
        except Exception as exc:
            raise SignedCopyError(f"sealing the signed copy failed: {exc}") from exc

    def _signature_page(
        self,
        signatures: Sequence[SignatureEvidence],
        *,
        sha256: str,
        pages: int,
        title: str,
        size: tuple[float, float],
    ) -> bytes:
        evidence = signatures[0]
        width, height = size
        left, right = 54.0, width - 54.0
        text_width = right - left
        buffer = io.BytesIO()
        c = Canvas(buffer, pagesize=size, invariant=1, pageCompression=0, lang="en-CA")
        y = height - 54.0

        def line_of(
            value: str, *, font: str = REGULAR, size_pt: float = 9, color: Color = INK, x: float = left
        ) -> None:
            nonlocal y
            c.setFont(font, size_pt)
            c.setFillColor(color)
            c.drawString(x, y - size_pt, value)
            y -= size_pt * 1.35

        def paragraph(value: str, *, font: str = REGULAR, size_pt: float = 9, color: Color = INK) -> None:
            for piece in wrap(value, font, size_pt, text_width):
                line_of(piece, font=font, size_pt=size_pt, color=color)

        line_of("ELECTRONIC SIGNATURE RECORD", font=BOLD, size_pt=14, color=ACCENT)
        y -= 2
        paragraph(
            f"This page records the electronic signature of the document on the preceding {pages} "
            f"page{'s' if pages != 1 else ''}: {printable(title, 200)}.",
            color=MUTED,
        )
        c.setStrokeColor(ACCENT)
        c.setLineWidth(1.4)
        c.line(left, y - 4, right, y - 4)
        y -= 16

        label_width = 110.0
        for signature in signatures:
            dealer = signature.role == "dealer"
            line_of(
                "COUNTERSIGNED FOR THE DEALER" if dealer else "SIGNED BY THE BUYER",
                font=BOLD,
                size_pt=8.5,
                color=ACCENT,
            )
            signed_at = _utc(signature.signed_at)
            rows = [
                ("Signed by", printable(signature.signer_name, 200)),
                *([("Title", printable(signature.signer_title, 120))] if signature.signer_title else []),
                ("Email", printable(signature.signer_email, 254)),
                ("Signed at (UTC)", signed_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
                ("Signed at (local)", _local_stamp(signature)),
                ("Signature", "drawn by the signer" if signature.signature_image else "typed full name"),
                ("IP address", printable(signature.ip_address, 64) or "Not recorded"),
                ("User agent", printable(signature.user_agent, 400) or "Not recorded"),
            ]
            for label, value in rows:
                pieces = wrap(value, BOLD, 9, text_width - label_width)
                c.setFont(REGULAR, 9)
                c.setFillColor(MUTED)
                c.drawString(left, y - 9, label)
                for piece in pieces:
                    c.setFont(BOLD, 9)
                    c.setFillColor(INK)
                    c.drawString(left + label_width, y - 9, piece)
                    y -= 12.5
                y -= 2
            y -= 8

        y -= 6
        line_of("SHA-256 of the agreement as presented for signature", font=BOLD, size_pt=8.5, color=ACCENT)
        line_of(sha256, font="Courier", size_pt=9)
        y -= 10

        line_of("ELECTRONIC CONSENT", font=BOLD, size_pt=8.5, color=ACCENT)
        paragraph(
            f"Before signing, {printable(evidence.signer_name, 200)} was shown the complete agreement, consented to "
            "use electronic records and to sign it electronically, and adopted an electronic signature with the "
            "intent to sign. The buyer and the dealer agree that this electronic signature has the same effect as a "
            "handwritten signature (Electronic Commerce Act, 2000, Ontario), and that the buyer may download a copy "
            "of the signed agreement at any time from their account.",
            size_pt=8.5,
        )
        y -= 10

        line_of("DIGITAL SEAL", font=BOLD, size_pt=8.5, color=ACCENT)
        paragraph(
            f"The dealer sealed this document with a PAdES digital signature made with the certificate "
            f"“{self._seal_name}”. The seal covers every page and every byte of this file: any change made "
            "after sealing, even of one character, invalidates it. Verify it with any PDF signature validator "
            "that trusts the dealer's sealing certificate.",
            size_pt=8.5,
        )
        line_of("Sealing certificate SHA-256 fingerprint:", size_pt=8, color=MUTED)
        line_of(self._fingerprint, font="Courier", size_pt=8)

        c.setStrokeColor(RULE)
        c.setLineWidth(0.6)
        c.line(left, 48, right, 48)
        c.setFont(REGULAR, 7.5)
        c.setFillColor(MUTED)
        c.drawString(left, 36, "Signature record")
        c.drawRightString(right, 36, f"Page {pages + 1}, after the {pages}-page agreement")
        c.showPage()
        c.save()
        return buffer.getvalue()
