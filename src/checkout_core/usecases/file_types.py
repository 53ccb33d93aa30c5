"""Uploaded files are typed by their content, never by the name or header the client sent, and
checked by their structure (PNG chunks and CRCs, JPEG markers, a PDF's active content) before
anything stores them — no decompression bomb, fake or script gets in (OWASP API4). Pure Python:
no image library runs on untrusted bytes. What each check refuses, with which code:
docs/http-api.md, "Uploaded files"."""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable

from checkout_core.errors import (
    ActiveContentNotAccepted,
    DocumentDamaged,
    DocumentTooLarge,
    ImageTooLarge,
    InvalidDocument,
)

#: The longest side an image may have, whatever the pixel limit.
MAX_IMAGE_SIDE = 16_384
#: Default pixel limit (width × height) when the caller gives none (``Policy.max_image_pixels``).
DEFAULT_MAX_PIXELS = 50_000_000

_PDF = b"%PDF-"
_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"


def sniff_document_type(content: bytes, *, max_bytes: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    """The media type of an insurance proof — PDF, JPEG or PNG by magic bytes — once its
    structure is checked (see the module docstring); else a :class:`InvalidDocument` (or
    :class:`DocumentTooLarge`) with the code that says why."""
    if len(content) > max_bytes:
        raise DocumentTooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MB", limit=max_bytes)
    if not content:
        raise InvalidDocument("the file is empty")
    if content.startswith(_PDF):
        check_pdf(content)
        return "application/pdf"
    if content.startswith(_JPEG):
        check_jpeg(content, max_pixels=max_pixels)
        return "image/jpeg"
    if content.startswith(_PNG):
        check_png(content, max_pixels=max_pixels)
        return "image/png"
    raise InvalidDocument("only PDF, JPEG or PNG files are accepted")


def _check_dimensions(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise DocumentDamaged("the image has no pixels")
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE or width * height > max_pixels:
        raise ImageTooLarge(
            f"the image is {width} × {height} pixels; at most {max_pixels:,} pixels "
            f"and {MAX_IMAGE_SIDE:,} on a side are accepted",
            width=width,
            height=height,
        )


# -- PNG ----------------------------------------------------------------------------------

#: Colour type → (channels, allowed bit depths).
_PNG_COLOURS: dict[int, tuple[int, tuple[int, ...]]] = {
    0: (1, (1, 2, 4, 8, 16)),
    2: (3, (8, 16)),
    3: (1, (1, 2, 4, 8)),
    4: (2, (8, 16)),
    6: (4, (8, 16)),
}
#: Adam7 passes: (x start, y start, x step, y step).
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _png_chunks(content: bytes) -> Iterable[tuple[bytes, bytes]]:
    """(type, data) of every chunk, checking lengths and CRCs."""
    pos = len(_PNG)
    while pos < len(content):
        if pos + 12 > len(content):
            raise DocumentDamaged("the PNG is truncated")
        length = int.from_bytes(content[pos : pos + 4], "big")
        kind = content[pos + 4 : pos + 8]
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > len(content):
            raise DocumentDamaged("the PNG is truncated")
        if not kind.isalpha():
            raise DocumentDamaged("the PNG is damaged")
        data = content[pos + 8 : pos + 8 + length]
        if zlib.crc32(kind + data) != int.from_bytes(content[end - 4 : end], "big"):
            raise DocumentDamaged("the PNG is damaged (a checksum does not match)")
        yield kind, data
        pos = end


def _png_row_bytes(width: int, bits_per_pixel: int) -> int:
    return (width * bits_per_pixel + 7) // 8


def _png_raw_size(width: int, height: int, bits_per_pixel: int, interlaced: bool) -> int:
    """The size of the inflated image data: each row is a filter byte and the row's pixels."""
    if not interlaced:
        return height * (1 + _png_row_bytes(width, bits_per_pixel))
    size = 0
    for x0, y0, dx, dy in _ADAM7:
        pass_width = (width - x0 + dx - 1) // dx if width > x0 else 0
        pass_height = (height - y0 + dy - 1) // dy if height > y0 else 0
        if pass_width and pass_height:
            size += pass_height * (1 + _png_row_bytes(pass_width, bits_per_pixel))
    return size


def _inflated_size(pieces: Iterable[bytes], most: int) -> int:
    """How many bytes a zlib stream split over ``pieces`` inflates to — streamed, never kept,
    and never more than ``most`` + 1 (more is enough to know it is wrong)."""
    inflater = zlib.decompressobj()
    total = 0
    try:
        for piece in pieces:
            data = piece
            while data:
                total += len(inflater.decompress(data, 1 << 20))
                if total > most:
                    return total
                data = inflater.unconsumed_tail
        while not inflater.eof and total <= most:
            out = inflater.decompress(b"", 1 << 20)
            if not out:
                break
            total += len(out)
    except zlib.error:
        raise DocumentDamaged("the PNG's image data is damaged") from None
    if not inflater.eof:
        raise DocumentDamaged("the PNG's image data is truncated")
    return total


def check_png(content: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """Check a PNG's structure, dimensions and image data size; returns (width, height)."""
    chunks = _png_chunks(content)
    first = next(iter(chunks), None)
    if first is None or first[0] != b"IHDR" or len(first[1]) != 13:
        raise DocumentDamaged("the PNG has no image header")
    header = first[1]
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour, compression, filtering, interlace = header[8:13]
    channels, depths = _PNG_COLOURS.get(colour, (0, ()))
    if depth not in depths or compression != 0 or filtering != 0 or interlace not in (0, 1):
        raise DocumentDamaged("the PNG's image header is not valid")
    _check_dimensions(width, height, max_pixels)
    image_data: list[bytes] = []
    ended = False
    for kind, data in chunks:
        if ended:
            raise DocumentDamaged("the PNG has data after its end")
        if kind == b"IDAT":
            image_data.append(data)
        elif kind == b"IEND":
            ended = True
    if not ended:
        raise DocumentDamaged("the PNG is truncated")
    if not image_data:
        raise DocumentDamaged("the PNG has no image data")
    expected = _png_raw_size(width, height, channels * depth, interlace == 1)
    if _inflated_size(image_data, expected) != expected:
        raise DocumentDamaged("the PNG's image data does not match its dimensions")
    return width, height


# -- JPEG ---------------------------------------------------------------------------------

#: Start-of-frame markers (baseline, extended, progressive, lossless; Huffman and arithmetic).
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_SOS, _EOI, _SOI = 0xDA, 0xD9, 0xD8
#: Markers without a length: TEM and the restart markers.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def check_jpeg(content: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """Check a JPEG's marker structure and frame dimensions; returns (width, height)."""
    pos, size = 2, len(content)
    dimensions: tuple[int, int] | None = None
    while True:
        if pos >= size or content[pos] != 0xFF:
            raise DocumentDamaged("the JPEG is damaged or truncated")
        while pos < size and content[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= size:
            raise DocumentDamaged("the JPEG is truncated")
        marker = content[pos]
        pos += 1
        if marker in _STANDALONE:
            continue
        if marker in (_SOI, _EOI, 0x00):
            raise DocumentDamaged("the JPEG is damaged or has no image")
        if pos + 2 > size:
            raise DocumentDamaged("the JPEG is truncated")
        length = int.from_bytes(content[pos : pos + 2], "big")
        if length < 2 or pos + length > size:
            raise DocumentDamaged("the JPEG is truncated")
        if marker in _SOF:
            if length < 8:
                raise DocumentDamaged("the JPEG's frame header is not valid")
            height = int.from_bytes(content[pos + 3 : pos + 5], "big")
            width = int.from_bytes(content[pos + 5 : pos + 7], "big")
            if not 1 <= content[pos + 7] <= 4:
                raise DocumentDamaged("the JPEG's frame header is not valid")
            _check_dimensions(width, height, max_pixels)
            dimensions = (width, height)
        pos += length
        if marker == _SOS:
            break
    if dimensions is None:
        raise DocumentDamaged("the JPEG has no frame header")
    if content.rfind(b"\xff\xd9") < pos:
        raise DocumentDamaged("the JPEG is truncated (no end of image)")
    return dimensions


# -- PDF ----------------------------------------------------------------------------------

#: Names whose presence makes a PDF active: scripts, launching programs, attached files, Flash.
ACTIVE_NAMES = frozenset({b"JavaScript", b"JS", b"Launch", b"EmbeddedFile", b"EmbeddedFiles", b"RichMedia"})

_DELIMS = rb"\x00\t\n\x0c\r ()<>\[\]{}/%"
_PLAIN_ACTIVE = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFiles?|RichMedia)(?=[" + _DELIMS + rb"]|$)")
_ESCAPED_NAME = re.compile(rb"/([^" + _DELIMS + rb"]*#[^" + _DELIMS + rb"]*)")
_NAME = re.compile(rb"/([^" + _DELIMS + rb"]+)")
_HEX_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_STREAM = re.compile(rb"(?<!end)stream\r?\n")
_OBJECT_START = re.compile(rb"\d+\s+\d+\s+obj\b")
#: Inflated object streams checked per PDF, at most (more is refused as too complex).
_MAX_INFLATED = 64 * 1024 * 1024


def _decode_name(name: bytes) -> bytes:
    return _HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), name)


def _active_name(data: bytes) -> bytes | None:
    """The first active-content name in ``data``, plain or #-escaped, if any."""
    plain = _PLAIN_ACTIVE.search(data)
    if plain is not None:
        return plain.group(1)
    for match in _ESCAPED_NAME.finditer(data):
        decoded = _decode_name(match.group(1))
        if decoded in ACTIVE_NAMES:
            return decoded
    return None


def _object_streams(content: bytes) -> Iterable[bytes]:
    """The inflated bodies of the PDF's object streams (``/Type /ObjStm``), where a writer may
    have compressed the dictionaries that carry actions and attachments."""
    inflated = 0
    for match in _STREAM.finditer(content):
        start = match.start()
        head = content[max(0, start - 4096) : start]
        starts = list(_OBJECT_START.finditer(head))
        head = head[starts[-1].end() :] if starts else head
        names = {_decode_name(n) for n in _NAME.findall(head)}
        if b"ObjStm" not in names:
            continue
        end = content.find(b"endstream", match.end())
        if end < 0:
            raise DocumentDamaged("the PDF is damaged (an object stream has no end)")
        body = content[match.end() : end]
        filters = {n for n in names if n.endswith(b"Decode") or n in (b"Fl", b"AHx", b"A85", b"LZW", b"RL")}
        if not filters:
            yield body
            continue
        if filters - {b"FlateDecode", b"Fl"} or b"DecodeParms" in names or b"DP" in names:
            raise InvalidDocument("the PDF compresses its objects in a way we do not accept")
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(body, _MAX_INFLATED - inflated + 1)
        except zlib.error:
            raise DocumentDamaged("the PDF is damaged (an object stream does not inflate)") from None
        inflated += len(out)
        if inflated > _MAX_INFLATED:
            raise InvalidDocument("the PDF is too complex to check")
        yield out


def check_pdf(content: bytes) -> None:
    """Check a PDF's end marker and that it carries no active content."""
    if b"%%EOF" not in content[-2048:]:
        raise DocumentDamaged("the PDF is truncated or damaged")
    found = _active_name(content)
    if found is None:
        for body in _object_streams(content):
            found = _active_name(body)
            if found is not None:
                break
    if found is not None:
        name = found.decode("latin-1")
        raise ActiveContentNotAccepted(
            f"the PDF carries active content (/{name}): scripts, launch actions and attached files "
            "are not accepted; print it to a new PDF or send a scan",
            name=name,
        )
