"""``PdfiumPageImages``: the agreement's pages as PNG for the signing page (pypdfium2)."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from reportlab.pdfgen.canvas import Canvas

from adapters.documents.page_images import PageImageError, PdfiumPageImages


def _pdf(pages: int, text: str = "Purchase agreement") -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(612, 792), invariant=1)
    for page in range(1, pages + 1):
        canvas.drawString(72, 720, f"{text}, page {page}")
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def test_each_page_is_a_png_as_wide_as_a_phone_screen_zoomed_in() -> None:
    images = PdfiumPageImages()
    pdf = _pdf(3)
    assert images.page_count(pdf) == 3
    for page in (1, 2, 3):
        png = images.page_png(pdf, page)
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG"
            assert image.size == (1071, 1386)  # US Letter at 1.75 × 72 dpi
    assert images.page_png(pdf, 1) != images.page_png(pdf, 2)


def test_pages_that_do_not_exist_and_files_that_are_not_pdfs_are_refused() -> None:
    images = PdfiumPageImages()
    pdf = _pdf(2)
    for page in (0, 3, -1):
        with pytest.raises(PageImageError, match=f"no page {page}"):
            images.page_png(pdf, page)
    with pytest.raises(PageImageError, match="not a readable PDF"):
        images.page_count(b"%PDF-1.7 nothing else")
    with pytest.raises(PageImageError, match="not a readable PDF"):
        images.page_png(b"GIF89a", 1)


def test_the_cache_keeps_the_newest_pages_and_answers_by_content() -> None:
    images = PdfiumPageImages(cache_pages=2)
    first, second = _pdf(1, "first"), _pdf(1, "second")
    one = images.page_png(first, 1)
    assert images.page_png(first, 1) is one  # cached: the same object
    images.page_png(second, 1)
    images.page_png(_pdf(1, "third"), 1)  # pushes the first out
    again = images.page_png(first, 1)
    assert again == one and again is not one  # rendered again, the same bytes
