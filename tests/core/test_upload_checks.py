"""Uploaded proofs are checked by their structure (``file_types``): image dimensions before
anything is inflated, damaged and fake images, PDFs with active content — and an order keeps at
most ``Policy.max_insurance_proofs`` proofs."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image
from reportlab.pdfgen import canvas

from checkout_core.errors import (
    ActiveContentNotAccepted,
    DocumentDamaged,
    ImageTooLarge,
    InsuranceProofLimitReached,
    InvalidDocument,
)
from checkout_core.usecases.context import Actor
from checkout_core.usecases.file_types import check_jpeg, check_png, sniff_document_type
from checkout_core.usecases.orders import place_order, submit_insurance
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import App
from tests.core.spec_example import spec_order

MB = 1024 * 1024
JOHN = Actor("cus_demo")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` × ``height`` (RGBA), with a tiny IDAT and IEND."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b"")
    )


def png_bytes(width: int = 40, height: int = 30, mode: str = "RGB", **save: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), "white" if mode != "P" else 1).save(out, "PNG", **save)
    return out.getvalue()


def jpeg_bytes(width: int = 40, height: int = 30, **save: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, "JPEG", **save)
    return out.getvalue()


def pdf_bytes() -> bytes:
    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(72, 720, "Certificate of automobile insurance, policy POL-12345")
    page.save()
    return out.getvalue()


def sniff(content: bytes) -> str:
    return sniff_document_type(content, max_bytes=10 * MB, max_pixels=50_000_000)


# -- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (png_bytes(), "image/png"),
        (png_bytes(mode="RGBA"), "image/png"),
        (png_bytes(mode="L"), "image/png"),
        (png_bytes(mode="1"), "image/png"),
        (png_bytes(mode="P"), "image/png"),
        (png_bytes(mode="I;16"), "image/png"),
        (png_bytes(33, 17, interlace=1), "image/png"),
        (png_bytes(1, 1), "image/png"),
        (jpeg_bytes(), "image/jpeg"),
        (jpeg_bytes(progressive=True), "image/jpeg"),
        (jpeg_bytes(1200, 900, quality=60, exif=b"Exif\0\0" + b"\0" * 20), "image/jpeg"),
    ],
)
def test_real_images_pass(content: bytes, media_type: str) -> None:
    assert sniff(content) == media_type


def test_the_dimensions_come_from_the_headers() -> None:
    assert check_png(png_bytes(33, 17)) == (33, 17)
    assert check_jpeg(jpeg_bytes(123, 45)) == (123, 45)


def test_a_png_bomb_is_refused_by_its_header_before_anything_is_inflated() -> None:
    bomb = png_header_only(20000, 20000)
    assert len(bomb) < 200
    with pytest.raises(ImageTooLarge) as caught:
        sniff(bomb)
    assert caught.value.code == "image_too_large"
    assert caught.value.details == {"width": 20000, "height": 20000}


def test_the_pixel_limit_is_the_policys() -> None:
    image = png_bytes(400, 300)
    assert sniff_document_type(image, max_bytes=MB, max_pixels=120_000) == "image/png"
    with pytest.raises(ImageTooLarge):
        sniff_document_type(image, max_bytes=MB, max_pixels=119_999)
    with pytest.raises(ImageTooLarge):
        sniff_document_type(jpeg_bytes(400, 300), max_bytes=MB, max_pixels=100_000)


def test_a_long_thin_image_is_refused_by_its_side() -> None:
    with pytest.raises(ImageTooLarge):
        sniff(png_header_only(30000, 1))


def test_a_png_whose_data_does_not_match_its_header_is_damaged() -> None:
    # The header says 4000 × 4000 (within the limits); the data is that of a few pixels.
    with pytest.raises(DocumentDamaged) as caught:
        sniff(png_header_only(4000, 4000))
    assert caught.value.code == "document_damaged"


@pytest.mark.parametrize("keep", [8, 20, 33, 60, -12, -1])
def test_a_truncated_png_is_damaged(keep: int) -> None:
    with pytest.raises(DocumentDamaged):
        sniff(png_bytes(64, 64)[:keep])


def test_a_png_with_a_wrong_checksum_or_data_after_its_end_is_damaged() -> None:
    good = bytearray(png_bytes())
    good[40] ^= 0xFF  # inside IHDR/IDAT: a CRC no longer matches
    with pytest.raises(DocumentDamaged):
        sniff(bytes(good))
    with pytest.raises(DocumentDamaged):
        sniff(png_bytes() + b"PK\x03\x04 a zip file riding along")


def test_a_fourteen_byte_fake_jpeg_is_damaged() -> None:
    fake = b"\xff\xd8\xff\xe0" + b"not a jpeg"
    assert len(fake) == 14
    with pytest.raises(DocumentDamaged) as caught:
        sniff(fake)
    assert caught.value.code == "document_damaged"


@pytest.mark.parametrize("keep", [3, 10, 100, 400, -200, -2])
def test_a_truncated_jpeg_is_damaged(keep: int) -> None:
    with pytest.raises(DocumentDamaged):
        sniff(jpeg_bytes(64, 64)[:keep])


def test_a_jpeg_without_a_frame_or_with_zero_height_is_damaged() -> None:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 0, 64, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x3f\x00"
    with pytest.raises(DocumentDamaged):
        sniff(b"\xff\xd8" + sof + sos + b"\x00" * 10 + b"\xff\xd9")
    with pytest.raises(DocumentDamaged):
        sniff(b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 4) + b"\0\0" + sos + b"\0" * 10 + b"\xff\xd9")


def test_a_jpeg_bomb_is_refused() -> None:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 20000, 20000, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x3f\x00"
    with pytest.raises(ImageTooLarge):
        sniff(b"\xff\xd8" + sof + sos + b"\x00" * 10 + b"\xff\xd9")


# -- PDFs -----------------------------------------------------------------------------------


def _pdf(*objects: bytes) -> bytes:
    body = b"".join(b"%d 0 obj\n" % n + o + b"\nendobj\n" for n, o in enumerate(objects, start=1))
    return b"%PDF-1.7\n" + body + b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"


def test_ordinary_pdfs_pass() -> None:
    assert sniff(pdf_bytes()) == "application/pdf"
    # An /OpenAction that only opens the first page is not active content.
    assert sniff(_pdf(b"<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >>")) == "application/pdf"
    # Names that merely start like the forbidden ones.
    assert sniff(_pdf(b"<< /JSON (x) /Launcher 1 /JavaScriptless true >>")) == "application/pdf"


@pytest.mark.parametrize(
    ("obj", "name"),
    [
        (b"<< /Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>", "JavaScript"),
        (b"<< /Type /Catalog /OpenAction 2 0 R >>\nendobj\n2 0 obj\n<< /S/JS(app.alert(1)) >>", "JS"),
        (b"<< /Type /Catalog /Names << /J#61vaScript 3 0 R >> >>", "JavaScript"),
        (b"<< /Type /Action /S /Launch /F (cmd.exe) >>", "Launch"),
        (b"<< /Type /Catalog /Names << /EmbeddedFiles 5 0 R >> >>", "EmbeddedFiles"),
        (b"<< /Type /EmbeddedFile /Length 3 >>\nstream\nabc\nendstream", "EmbeddedFile"),
        (b"<< /Type /Annot /Subtype /RichMedia >>", "RichMedia"),
    ],
)
def test_pdfs_with_active_content_are_refused(obj: bytes, name: str) -> None:
    with pytest.raises(ActiveContentNotAccepted) as caught:
        sniff(_pdf(obj))
    assert caught.value.code == "active_content_not_accepted"
    assert caught.value.details["name"] == name


def test_javascript_hidden_in_a_compressed_object_stream_is_found() -> None:
    hidden = zlib.compress(b"5 0 << /S /JavaScript /JS (app.alert(1)) >>")
    stream = b"<< /Type /Obj#53tm /N 1 /First 4 /Filter /FlateDecode /Length %d >>\nstream\n" % len(hidden)
    with pytest.raises(ActiveContentNotAccepted):
        sniff(_pdf(b"<< /Type /Catalog >>", stream + hidden + b"\nendstream"))
    # The same object stream without the script passes.
    clean = zlib.compress(b"5 0 << /Type /Page >>")
    stream = b"<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length %d >>\nstream\n" % len(clean)
    assert sniff(_pdf(b"<< /Type /Catalog >>", stream + clean + b"\nendstream")) == "application/pdf"


def test_an_object_stream_in_another_encoding_is_refused() -> None:
    hex_stream = b"<< /Type /ObjStm /N 1 /First 4 /Filter /ASCIIHexDecode >>\nstream\n2f4a53>\nendstream"
    with pytest.raises(InvalidDocument):
        sniff(_pdf(b"<< /Type /Catalog >>", hex_stream))


def test_a_truncated_pdf_is_damaged() -> None:
    with pytest.raises(DocumentDamaged):
        sniff(pdf_bytes()[:-200])


# -- the number of proofs per order -----------------------------------------------------------


def test_an_order_keeps_at_most_the_policys_number_of_proofs(memory_app: App) -> None:
    reservation = reserve_vehicle(memory_app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa")
    order = place_order(memory_app.ctx, JOHN, spec_order(reservation.reservation.id))
    limit = memory_app.ctx.policy.max_insurance_proofs
    assert limit == 5
    for n in range(limit):
        submit_insurance(
            memory_app.ctx, JOHN, order.id, content=png_bytes(10 + n, 10), policy_number=f"POL-{n}", provider="Intact"
        )
    stored_before = len(memory_app.ctx.documents._blobs)  # type: ignore[attr-defined]
    with pytest.raises(InsuranceProofLimitReached) as caught:
        submit_insurance(memory_app.ctx, JOHN, order.id, content=png_bytes(99, 10), policy_number="P", provider="I")
    assert caught.value.code == "insurance_proof_limit_reached"
    assert caught.value.details["limit"] == limit
    assert len(memory_app.ctx.documents._blobs) == stored_before  # type: ignore[attr-defined]  # nothing stored
