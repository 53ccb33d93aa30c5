"""The agreement's pages as PNG images, for the signing page (pypdfium2).

Phones and headless browsers have no PDF viewer: an ``<embed>``/``<iframe>`` of the PDF shows
an empty box there. The signing page shows these images instead, beside the PDF link.

Rendering a page costs tens of milliseconds, and the buyer's browser asks for every page of the
same agreement (and again on reload), so images are kept in a small LRU cache keyed by the
document's SHA-256 and the page number: the same bytes always give the same images."""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from typing import TypeVar

import pypdfium2 as pdfium  # type: ignore[import-untyped]  # pypdfium2 ships no py.typed

#: 1.75 × 72 dpi = 126 dpi: a US Letter page is 1071 px wide, sharp on a phone's screen when
#: zoomed to its width, and ~40–150 KB as PNG.
SCALE = 1.75
#: Pages kept (about 100 KB each).
CACHE_PAGES = 96
#: Pages an agreement may have: a larger document is not an agreement we made.
MAX_PAGES = 50


K = TypeVar("K")
V = TypeVar("V")


class PageImageError(ValueError):
    """The PDF cannot be read, or has no such page."""


class PdfiumPageImages:
    """Implements :class:`~checkout_core.ports.documents.PageImages` with pypdfium2 and Pillow."""

    def __init__(self, *, scale: float = SCALE, cache_pages: int = CACHE_PAGES) -> None:
        self._scale = scale
        self._capacity = cache_pages
        self._images: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._counts: OrderedDict[str, int] = OrderedDict()
        # PDFium is not thread-safe, and the API renders on the thread pool.
        self._lock = threading.Lock()

    def page_count(self, pdf: bytes) -> int:
        """How many pages ``pdf`` has."""
        digest = hashlib.sha256(pdf).hexdigest()
        with self._lock:
            count = self._counts.get(digest)
            if count is None:
                document = self._open(pdf)
                try:
                    count = min(len(document), MAX_PAGES)
                finally:
                    document.close()
                self._remember(self._counts, digest, count)
            return count

    def page_png(self, pdf: bytes, page: int) -> bytes:
        """Page ``page`` (1-based) of ``pdf`` as PNG; :class:`PageImageError` if there is none."""
        key = (hashlib.sha256(pdf).hexdigest(), page)
        with self._lock:
            cached = self._images.get(key)
            if cached is not None:
                self._images.move_to_end(key)
                return cached
            document = self._open(pdf)
            try:
                if not 1 <= page <= min(len(document), MAX_PAGES):
                    raise PageImageError(f"the document has no page {page}")
                image = document[page - 1].render(scale=self._scale).to_pil()
            finally:
                document.close()
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            png = buffer.getvalue()
            self._remember(self._images, key, png)
            return png

    @staticmethod
    def _open(pdf: bytes) -> pdfium.PdfDocument:
        try:
            return pdfium.PdfDocument(pdf)
        except pdfium.PdfiumError as error:
            raise PageImageError(f"not a readable PDF: {error}") from error

    def _remember(self, cache: OrderedDict[K, V], key: K, value: V) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > self._capacity:
            cache.popitem(last=False)
