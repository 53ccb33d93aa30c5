"""The signed copy: a signature page appended, and a PAdES seal that breaks on any change."""

from __future__ import annotations

import asyncio
import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
from PIL import Image as PILImage
from pyhanko.keys import load_certs_from_pemder_data
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import PdfSignatureStatus, validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfReader
from reportlab.pdfgen.canvas import Canvas

from adapters.documents.agreement_pdf import ReportlabAgreementRenderer
from adapters.documents.certificates import ensure_self_signed
from adapters.documents.signed_copy import SEAL_FIELD, SignedCopyError, StampedSignedCopyMaker, check_seal
from checkout_core.ports.documents import AgreementInput, SignatureEvidence

EVIDENCE = SignatureEvidence(
    signer_name="John Doe",
    signer_email="john@example.com",
    signed_at=datetime(2025, 12, 23, 12, 0, 5, tzinfo=UTC),
    ip_address="203.0.113.7",
    user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
)


@pytest.fixture(scope="module")
def agreement_pdf(financed_agreement: AgreementInput) -> bytes:
    """The spec example's agreement."""
    return ReportlabAgreementRenderer().render(financed_agreement)


@pytest.fixture(scope="module")
def signed_pdf(signed_copy_maker: StampedSignedCopyMaker, agreement_pdf: bytes) -> bytes:
    """The spec example's agreement, signed and sealed."""
    return signed_copy_maker.make_signed_copy(agreement_pdf, EVIDENCE)


def _validate(pdf: bytes, cert_file: Path) -> PdfSignatureStatus:
    """pyHanko's own validation of the (only) signature, trusting the self-signed certificate."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    (signature,) = reader.embedded_signatures
    context = ValidationContext(trust_roots=list(load_certs_from_pemder_data(cert_file.read_bytes())))
    return validate_pdf_signature(signature, context)


def _text(pdf: bytes) -> list[str]:
    return [" ".join((page.extract_text() or "").split()) for page in PdfReader(io.BytesIO(pdf)).pages]


def test_the_seal_validates_as_intact_trusted_and_covering_the_whole_file(
    signed_pdf: bytes, signing_material: tuple[Path, Path]
) -> None:
    status = _validate(signed_pdf, signing_material[0])
    assert status.intact
    assert status.valid
    assert status.trusted
    assert status.coverage is SignatureCoverageLevel.ENTIRE_FILE
    assert status.bottom_line


def test_the_seal_is_a_pades_signature(signed_pdf: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(signed_pdf), strict=False)
    (signature,) = reader.embedded_signatures
    assert signature.field_name == SEAL_FIELD
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert signature.md_algorithm == "sha256"
    assert "John Doe" in str(signature.sig_object["/Reason"])


def test_one_changed_byte_inside_the_signed_range_breaks_the_seal(
    signed_pdf: bytes, signing_material: tuple[Path, Path], financed_agreement: AgreementInput
) -> None:
    reader = PdfFileReader(io.BytesIO(signed_pdf), strict=False)
    (signature,) = reader.embedded_signatures
    start, first_length, second_start, _ = (int(v) for v in signature.sig_object["/ByteRange"])
    vin = financed_agreement.vehicle.vin.encode()
    position = signed_pdf.index(vin) + 5  # a character of the VIN on page 1
    assert start <= position < start + first_length < second_start
    tampered = bytearray(signed_pdf)
    tampered[position] ^= 0x01  # one bit of one byte: "F" becomes "G"
    assert bytes(tampered) != signed_pdf

    status = _validate(bytes(tampered), signing_material[0])
    assert not status.intact  # the document digest no longer matches the signed one
    assert not status.bottom_line


def test_a_change_on_the_signature_page_breaks_the_seal_too(
    signed_pdf: bytes, signed_copy_maker: StampedSignedCopyMaker
) -> None:
    tampered = signed_pdf.replace(b"203.0.113.7", b"203.0.113.8", 1)
    assert tampered != signed_pdf
    assert signed_copy_maker.check(signed_pdf).ok
    check = signed_copy_maker.check(tampered)
    assert not check.ok
    assert not check.intact


def test_check_seal_reports_trust_and_damage_without_raising(
    signed_pdf: bytes, agreement_pdf: bytes, signing_material: tuple[Path, Path], tmp_path: Path
) -> None:
    maker = StampedSignedCopyMaker(*signing_material)
    good = maker.check(signed_pdf)
    assert good.ok
    assert "document seal" in good.signer
    assert good.signed_at is not None

    stranger = StampedSignedCopyMaker(*ensure_self_signed(tmp_path, organization="Someone Else"))
    untrusted = check_seal(signed_pdf, [stranger.certificate])
    assert untrusted.intact
    assert untrusted.valid
    assert not untrusted.trusted
    assert not untrusted.ok

    unsigned = maker.check(agreement_pdf)
    assert not unsigned.ok
    assert unsigned.problem == "no seal"
    garbage = maker.check(b"not a pdf at all")
    assert not garbage.ok
    assert garbage.problem.startswith("unreadable")


def test_the_signature_page_records_who_when_where_and_what(
    signed_pdf: bytes, agreement_pdf: bytes, financed_agreement: AgreementInput
) -> None:
    agreement_pages = _text(agreement_pdf)
    pages = _text(signed_pdf)
    assert len(pages) == len(agreement_pages) + 1
    # The agreement's own text is unchanged; its signature page only gains the signature stamps.
    for before, after in zip(agreement_pages, pages, strict=False):
        assert after.startswith(before)
    stamps = pages[len(agreement_pages) - 1][len(agreement_pages[-1]) :]
    assert "John Doe" in stamps
    assert "2025-12-23 12:00 UTC" in stamps
    assert financed_agreement.vehicle.vin in pages[0]
    record = pages[-1]
    for item in (
        "ELECTRONIC SIGNATURE RECORD",
        f"Vehicle purchase agreement {financed_agreement.order.number}",
        "Signed by John Doe",
        "Email john@example.com",
        "Signed at (UTC) 2025-12-23 12:00:05 UTC",
        "IP address 203.0.113.7",
        "User agent Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        hashlib.sha256(agreement_pdf).hexdigest(),
        "consented to use electronic records and to sign it electronically",
        "Electronic Commerce Act, 2000",
        "PAdES",
    ):
        assert item in record, item


def test_a_naive_signing_time_is_taken_as_utc_and_missing_details_are_said_so(
    signed_copy_maker: StampedSignedCopyMaker, agreement_pdf: bytes
) -> None:
    evidence = SignatureEvidence(
        signer_name="John Doe", signer_email="john@example.com", signed_at=datetime(2025, 12, 23, 7, 30)
    )
    record = _text(signed_copy_maker.make_signed_copy(agreement_pdf, evidence))[-1]
    assert "2025-12-23 07:30:00 UTC" in record
    assert "IP address Not recorded" in record


def test_signing_works_from_inside_a_running_event_loop(
    signed_copy_maker: StampedSignedCopyMaker, agreement_pdf: bytes
) -> None:
    async def sign_in_async_code() -> bytes:
        return signed_copy_maker.make_signed_copy(agreement_pdf, EVIDENCE)

    signed = asyncio.run(sign_in_async_code())
    assert signed_copy_maker.check(signed).ok


def test_a_document_that_is_not_a_pdf_is_refused(signed_copy_maker: StampedSignedCopyMaker) -> None:
    with pytest.raises(SignedCopyError, match="not a readable PDF"):
        signed_copy_maker.make_signed_copy(b"PURCHASE AGREEMENT\nplain text\n", EVIDENCE)


def _words_at(pdf: bytes, page: int) -> list[tuple[str, float, float]]:
    """Each string drawn on ``page`` with the (x, y) where it starts."""
    found: list[tuple[str, float, float]] = []

    def visit(text: str, cm: object, tm: list[float], font: object, size: object) -> None:
        if text.strip():
            found.append((text.strip(), tm[4], tm[5]))

    PdfReader(io.BytesIO(pdf)).pages[page].extract_text(visitor_text=visit)
    return found


def test_each_signature_is_printed_on_its_own_line_with_its_local_date_and_time(
    signed_copy_maker: StampedSignedCopyMaker, agreement_pdf: bytes
) -> None:
    buyer = attrs.evolve(EVIDENCE, signed_at=datetime(2025, 12, 24, 1, 30, tzinfo=UTC), time_zone="America/Toronto")
    dealer = SignatureEvidence(
        signer_name="Sarah Johnson",
        signer_email="sarah@clutchclone.ca",
        signed_at=datetime(2025, 12, 24, 15, 0, tzinfo=UTC),
        role="dealer",
        signer_title="Sales advisor",
        time_zone="America/Toronto",
    )
    signed = signed_copy_maker.make_signed_copy(agreement_pdf, buyer, dealer)
    agreement_pages = len(PdfReader(io.BytesIO(agreement_pdf)).pages)
    words = _words_at(signed, agreement_pages - 1)
    position = {text: (x, y) for text, x, y in words}
    buyer_caption, dealer_caption = position["Buyer's signature"], position["Authorized representative's signature"]
    # Each name sits just above its own line (the caption is 9 points below the line).
    buyer_name, dealer_name = position["John Doe"], position["Sarah Johnson"]
    assert 0 < buyer_name[1] - buyer_caption[1] < 30 and abs(buyer_name[0] - buyer_caption[0]) < 10
    assert 0 < dealer_name[1] - dealer_caption[1] < 30 and abs(dealer_name[0] - dealer_caption[0]) < 10
    # Dates and times on the buyer's local clock, on the "Date:" rows under each line.
    assert position["2025-12-23 20:30 EST"][1] < buyer_caption[1]
    assert dealer_caption[1] > position["2025-12-24 10:00 EST"][1] > dealer_caption[1] - 40
    assert "Sarah Johnson, Sales advisor" in position
    record = _text(signed)[-1]
    for item in ("SIGNED BY THE BUYER", "COUNTERSIGNED FOR THE DEALER", "Title Sales advisor", "2025-12-24 10:00 EST"):
        assert item in record, item
    assert check_seal(signed, [signed_copy_maker.certificate]).ok


def test_a_drawn_signature_is_printed_as_an_image_on_the_line(
    signed_copy_maker: StampedSignedCopyMaker, agreement_pdf: bytes
) -> None:
    image = io.BytesIO()
    PILImage.new("RGBA", (300, 60), (0, 0, 0, 0)).save(image, "PNG")
    drawn = attrs.evolve(EVIDENCE, signature_image=image.getvalue())
    signed = signed_copy_maker.make_signed_copy(agreement_pdf, drawn)
    page = PdfReader(io.BytesIO(signed)).pages[len(PdfReader(io.BytesIO(agreement_pdf)).pages) - 1]
    assert len(page.images) == 1
    assert "Signature drawn by the signer" in _text(signed)[-1]


def test_an_agreement_without_signature_lines_is_signed_on_the_record_page_only(
    signed_copy_maker: StampedSignedCopyMaker,
) -> None:
    """An agreement rendered before the lines were marked (or any other PDF) still gets a signed copy."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    canvas.drawString(72, 720, "An older agreement")
    canvas.showPage()
    canvas.save()
    signed = signed_copy_maker.make_signed_copy(buffer.getvalue(), EVIDENCE)
    pages = _text(signed)
    assert pages[0] == "An older agreement"
    assert "Signed by John Doe" in pages[1]
    assert check_seal(signed, [signed_copy_maker.certificate]).ok
