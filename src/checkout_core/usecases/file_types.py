"""Uploaded files are typed by their content, never by the name or header the client sent."""

from __future__ import annotations

from checkout_core.errors import DocumentTooLarge, InvalidDocument

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


def sniff_document_type(content: bytes, *, max_bytes: int) -> str:
    """The media type of an insurance proof: PDF, JPEG or PNG by magic bytes; else an error."""
    if len(content) > max_bytes:
        raise DocumentTooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MB", limit=max_bytes)
    if not content:
        raise InvalidDocument("the file is empty")
    for magic, media_type in _SIGNATURES:
        if content.startswith(magic):
            if media_type == "application/pdf" and b"%%EOF" not in content[-2048:]:
                raise InvalidDocument("the PDF is truncated or damaged")
            return media_type
    raise InvalidDocument("only PDF, JPEG or PNG files are accepted")
