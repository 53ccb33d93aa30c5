"""The agreement's pages written to PDF bytes: a small direct writer, and reportlab's canvas.

A laid-out page is data — strings at positions (:class:`Text`), rules (:class:`Line`), boxes
(:class:`Rect`) and named destinations (:class:`Destination`) — so it can be painted two ways:

* :func:`write_pdf`, the fast path every agreement takes: it formats the page content streams
  and the file around them directly, reusing what is the same in every agreement (each
  string's encoded ``(…) Tj`` operator, colours, the font and page dictionaries, the file's
  fixed objects), built once per process;
* :func:`paint_with_canvas`, reportlab's own :class:`~reportlab.pdfgen.canvas.Canvas`, the
  reference: it is several times slower (each string goes through reportlab's text object,
  each object through its document model), and the tests check that the two give the same
  bytes for every kind of agreement.

The writer emits exactly what reportlab's canvas does in ``invariant`` mode with uncompressed
pages: the same operators, numbers (reportlab's own ``fp_str``), string escapes and
font substitution (reportlab's ``unicode2T1``: a character outside the standard fonts'
encoding is taken from Symbol or ZapfDingbats), object numbering, dictionaries and
cross-reference table. It only writes what the agreement draws: standard fonts, RGB colours,
lines, rectangles, one text object per page, a footer, named destinations and the metadata.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Callable, Sequence
from typing import NamedTuple

from reportlab.lib.colors import Color
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.rl_accel import escapePDF, fp_str
from reportlab.pdfbase.pdfdoc import DummyDoc, PDFString
from reportlab.pdfbase.pdfmetrics import getFont, stringWidth, unicode2T1
from reportlab.pdfgen.canvas import Canvas

REGULAR = "Helvetica"


class Text(NamedTuple):
    """One string to print at (x, y); ``align`` is left, right (x is the right edge) or centre."""

    x: float
    y: float
    value: str
    font: str
    size: float
    color: Color
    align: str


class Line(NamedTuple):
    """A straight line."""

    x1: float
    y1: float
    x2: float
    y2: float
    color: Color
    width: float


class Rect(NamedTuple):
    """A rectangle with its lower-left corner at (x, y), filled and/or stroked (0.6 pt)."""

    x: float
    y: float
    w: float
    h: float
    fill: Color | None
    stroke: Color | None


class Destination(NamedTuple):
    """A named destination at (x, y) on its page (listed in the catalogue's ``/Dests``)."""

    key: str
    x: float
    y: float


Op = Text | Line | Rect | Destination


class Footer(NamedTuple):
    """What each page of a version prints at its foot: a rule, ``left`` at the left margin and
    ``right(page, pages)`` against the right margin, in ``color`` at 7.5 points."""

    left: str
    right: Callable[[int, int], str]
    y: float
    x_left: float
    x_right: float
    rule_color: Color
    color: Color


class Version(NamedTuple):
    """One language version of the document: its pages (ops in drawing order) and footer."""

    pages: Sequence[Sequence[Op]]
    footer: Footer


class Meta(NamedTuple):
    """The document information dictionary and the catalogue's language."""

    title: str
    author: str
    subject: str
    creator: str
    keywords: str
    lang: str


# -- reportlab's canvas: the reference --------------------------------------------------------


def paint_with_canvas(versions: Sequence[Version], meta: Meta) -> bytes:
    """The versions painted by reportlab's canvas (the reference :func:`write_pdf` matches)."""
    buffer = io.BytesIO()
    # invariant=1 fixes the creation date and the file id, so equal input gives equal bytes;
    # streams stay uncompressed so the bytes do not depend on the zlib build either.
    c = Canvas(buffer, pagesize=LETTER, invariant=1, pageCompression=0, lang=meta.lang)
    c.setTitle(meta.title)
    c.setAuthor(meta.author)
    c.setSubject(meta.subject)
    c.setCreator(meta.creator)
    c.setKeywords(meta.keywords)
    destinations: dict[str, object] = {}
    for version in versions:
        total = len(version.pages)
        for number, page in enumerate(version.pages, start=1):
            texts: list[Text] = []
            for op in page:
                if isinstance(op, Text):
                    texts.append(op)
                elif isinstance(op, Line):
                    c.setStrokeColor(op.color)
                    c.setLineWidth(op.width)
                    c.line(op.x1, op.y1, op.x2, op.y2)
                elif isinstance(op, Rect):
                    if op.fill is not None:
                        c.setFillColor(op.fill)
                    if op.stroke is not None:
                        c.setStrokeColor(op.stroke)
                        c.setLineWidth(0.6)
                    c.rect(op.x, op.y, op.w, op.h, stroke=int(op.stroke is not None), fill=int(op.fill is not None))
                else:
                    # reportlab writes a destination only when something refers to it: the
                    # catalogue's /Dests lists them all.
                    destinations[op.key] = c.bookmarkHorizontalAbsolute(op.key, op.y, left=op.x)
            _canvas_texts(c, texts)
            footer = version.footer
            c.setStrokeColor(footer.rule_color)
            c.setLineWidth(0.6)
            c.line(footer.x_left, footer.y + 12, footer.x_right, footer.y + 12)
            c.setFont(REGULAR, 7.5)
            c.setFillColor(footer.color)
            c.drawString(footer.x_left, footer.y, footer.left)
            c.drawRightString(footer.x_right, footer.y, footer.right(number, total))
            c.showPage()
    if destinations:
        c.setCatalogEntry("Dests", destinations)
    c.save()
    return buffer.getvalue()


def _canvas_texts(c: Canvas, texts: Sequence[Text]) -> None:
    """Every string of a page in one PDF text object, setting font and colour only when they
    change (one text object per string cost most of the painting time; no graphic is meant to
    cover text, so painting all of it after the page's rules and bands looks the same)."""
    if not texts:
        return
    block = c.beginText()
    font: tuple[str, float] | None = None
    color: Color | None = None
    for text in texts:
        if (text.font, text.size) != font:
            font = (text.font, text.size)
            block.setFont(text.font, text.size)
        if text.color is not color:
            color = text.color
            block.setFillColor(text.color)
        block.setTextOrigin(_aligned_x(text.x, text.value, text.font, text.size, text.align), text.y)
        block.textOut(text.value)
    c.drawText(block)


def _aligned_x(x: float, value: str, font: str, size: float, align: str) -> float:
    """Where a string starts that is aligned ``align`` at ``x``."""
    if align == "left":
        return x
    width = float(stringWidth(value, font, size))
    return x - (width if align == "right" else width / 2)


# -- the direct writer ------------------------------------------------------------------------

# What reportlab's canvas writes at the top of every page (its initial font, Helvetica 12 = /F1)
# and the fixed parts of the file, spelled as reportlab spells them.
_PREAMBLE = "1 0 0 1 0 0 cm  BT /F1 12 Tf 14.4 TL ET"
_HEADER = b"%PDF-1.4\n%\223\214\213\236 ReportLab Generated PDF document (opensource)\n"
# reportlab's invariant timestamp (2000-01-01) and producer. reportlab's canvas would take the
# date from SOURCE_DATE_EPOCH when set; the writer never reads the environment, so an agreement's
# bytes do not depend on it.
_DATE = "(D:20000101000000+00'00')"
_PRODUCER = "(ReportLab PDF Library - \\(opensource\\))"
_ID_SEED = b"a reportlab document" + ascii(946684800.0).encode()
# How a path is painted, by (stroked, filled), as reportlab's even-odd fill rule spells it.
_PATH_PAINT = {(False, False): "n", (True, False): "S", (False, True): "f*", (True, True): "B*"}
_PAGE_DICT = (
    "<<\n/Contents {contents} 0 R /MediaBox [ 0 0 612 792 ] /Parent {parent} 0 R /Resources <<\n"
    "/Font 1 0 R /ProcSet [ /PDF /Text /ImageB /ImageC /ImageI ]\n>> /Rotate 0 /Trans <<\n\n>> \n"
    "  /Type /Page\n>>"
)


@functools.lru_cache(maxsize=16384)
def _shown(value: str, font: str) -> tuple[tuple[str, str], ...]:
    """``value`` as text-showing operators: (font name, ``(…) Tj``) per run — one run unless a
    character must come from a substitution font. Strings repeat from agreement to agreement
    (labels, terms, headings), so this is worked out once per string and font."""
    face = getFont(font)
    return tuple(
        (run_font.fontName, f"({escapePDF(run)}) Tj")
        for run_font, run in unicode2T1(value, [face, *face.substitutionFonts])
    )


@functools.lru_cache(maxsize=16384)
def _placed(x: float, y: float, value: str, font: str, size: float, align: str) -> str | None:
    """A string's text-positioning and showing operators, or None when part of it must come
    from a substitution font (the caller then switches fonts around it). Most strings of an
    agreement are at the same place in every agreement of the same shape (labels, headings,
    terms), so their operators are formatted once per process."""
    runs = _shown(value, font)
    if len(runs) != 1 or runs[0][0] != font:
        return None
    return f"1 0 0 1 {fp_str(_aligned_x(x, value, font, size, align), y)} Tm {runs[0][1]}"


@functools.lru_cache(maxsize=64)
def _rgb(color: tuple[float, float, float]) -> str:
    return str(fp_str(color))


def _color(color: Color) -> str:
    return _rgb((color.red, color.green, color.blue))


@functools.lru_cache(maxsize=64)
def _font_setting(name: str, size: float) -> str:
    return f"{fp_str(size)} Tf {fp_str(size * 1.2)} TL"


def _pdf_string(value: str) -> str:
    """A string object of the information dictionary, as reportlab's ``PDFString`` writes it."""
    if value.isascii() and value.isprintable():
        # Printable ASCII is itself in PDFDocEncoding: only the escapes remain (most titles,
        # keywords and subjects, which name the order and so are new every time).
        return f"({escapePDF(value.encode('ascii'))})"
    return _encoded_pdf_string(value)


@functools.lru_cache(maxsize=256)
def _encoded_pdf_string(value: str) -> str:
    formatted: bytes = PDFString(value).format(DummyDoc())
    return formatted.decode("latin-1")


@functools.lru_cache(maxsize=64)
def _font_object(font: str, internal: str) -> str:
    encoding = "/Encoding /WinAnsiEncoding " if getFont(font).encName == "WinAnsiEncoding" else ""
    return f"<<\n/BaseFont /{font} {encoding}/Name /{internal} /Subtype /Type1 /Type /Font\n>>"


def clear_caches() -> None:
    """Forget every string's formatted operators (the benchmark's worst case, and tests)."""
    for cached in (_placed, _shown, _rgb, _font_setting, _encoded_pdf_string, _font_object):
        cached.cache_clear()


def _dictionary(entries: Sequence[str]) -> str:
    """``/Key value`` entries as reportlab writes a dictionary (a line break every six)."""
    parts = list(entries)
    for i in reversed(range(6, len(parts), 6)):
        parts.insert(i, "\n ")
    return "<<\n" + " ".join(parts) + "\n>>"


def _array(items: Sequence[str]) -> str:
    parts = list(items)
    for i in reversed(range(10, len(parts), 10)):
        parts.insert(i, "\n ")
    return "[ " + " ".join(parts) + " ]"


class _Document:
    """Fonts in order of first use (reportlab numbers them, and their objects, that way) and
    the order in which fonts and pages get their object numbers."""

    def __init__(self) -> None:
        self.fonts: dict[str, str] = {REGULAR: "/F1"}
        #: ("font", name) or ("page", index), in the order reportlab allocates their objects.
        self.allocations: list[tuple[str, str | int]] = []
        #: Text-object font settings and fill colours already formatted for this document.
        self.settings: dict[tuple[str, float], str] = {}
        #: By identity: the colours outlive the document (they are in its ops), so ids are stable.
        self.fills: dict[int, str] = {}

    def setting(self, font: str, size: float) -> str:
        """A text object's operators selecting ``font`` at ``size`` (leading 1.2 × size)."""
        found = self.settings.get((font, size))
        if found is None:
            found = self.settings[font, size] = f"{self.font(font)} {_font_setting(font, size)}"
        return found

    def fill(self, color: Color) -> str:
        """The operator setting the fill colour."""
        found = self.fills.get(id(color))
        if found is None:
            found = self.fills[id(color)] = f"{_color(color)} rg"
        return found

    def font(self, name: str) -> str:
        internal = self.fonts.get(name)
        if internal is None:
            internal = self.fonts[name] = f"/F{len(self.fonts) + 1}"
            self.allocations.append(("font", name))
        return internal


def _show(doc: _Document, out: list[str], value: str, font: str, size: float) -> None:
    """Append the operators showing ``value`` in ``font`` (switching to a substitution font and
    back for the characters that need one, as reportlab's text object does)."""
    runs = _shown(value, font)
    if len(runs) == 1 and runs[0][0] == font:
        out.append(runs[0][1])
        return
    current = font
    for run_font, shown in runs:
        if run_font != current:
            out.append(f"{doc.font(run_font)} {_font_setting(run_font, size)}")
            current = run_font
        out.append(shown)
    if current != font:
        out.append(f"{doc.font(font)} {_font_setting(font, size)}")


def _page_stream(
    doc: _Document, page: Sequence[Op], footer: Footer, number: int, total: int, dests: dict[str, tuple[float, float]]
) -> str:
    code = [_PREAMBLE]
    add = code.append
    texts: list[Text] = []
    for op in page:
        if isinstance(op, Text):
            texts.append(op)
        elif isinstance(op, Line):
            add(f"{_color(op.color)} RG")
            add(f"{fp_str(op.width)} w")
            add(f"n {fp_str(op.x1, op.y1)} m {fp_str(op.x2, op.y2)} l S")
        elif isinstance(op, Rect):
            if op.fill is not None:
                add(f"{_color(op.fill)} rg")
            if op.stroke is not None:
                add(f"{_color(op.stroke)} RG")
                add(".6 w")
            paint = _PATH_PAINT[op.stroke is not None, op.fill is not None]
            add(f"n {fp_str(op.x, op.y, op.w, op.h)} re {paint}")
        else:
            dests[op.key] = (op.x, op.y)
    if texts:
        # The font and colour are set only when they change, as _canvas_texts does.
        block = ["BT 1 0 0 1 0 0 Tm"]
        put = block.append
        font: str | None = None
        size = 0.0
        color: Color | None = None
        # Looked up inline: this loop runs for every string of every agreement.
        settings, fills = doc.settings, doc.fills
        for x, y, value, text_font, text_size, text_color, align in texts:
            if text_font != font or text_size != size:
                font, size = text_font, text_size
                put(settings.get((font, size)) or doc.setting(font, size))
            if text_color is not color:
                color = text_color
                put(fills.get(id(color)) or doc.fill(color))
            placed = _placed(x, y, value, text_font, text_size, align)
            if placed is not None:
                put(placed)
            else:
                put(f"1 0 0 1 {fp_str(_aligned_x(x, value, text_font, text_size, align), y)} Tm")
                _show(doc, block, value, text_font, text_size)
        put("ET")
        add(" ".join(block))
    add(f"{_color(footer.rule_color)} RG")
    add(".6 w")
    add(f"n {fp_str(footer.x_left, footer.y + 12)} m {fp_str(footer.x_right, footer.y + 12)} l S")
    add(f"BT {doc.font(REGULAR)} {_font_setting(REGULAR, 7.5)} ET")
    add(f"{_color(footer.color)} rg")
    right = footer.right(number, total)
    right_x = footer.x_right - stringWidth(right, REGULAR, 7.5)
    for x, value in ((footer.x_left, footer.left), (right_x, right)):
        line = [f"BT 1 0 0 1 {fp_str(x, footer.y)} Tm"]
        _show(doc, line, value, REGULAR, 7.5)
        add(" ".join(line) + " T* ET")
    add(" ")
    return "\n".join(code) + "\n"


def write_pdf(versions: Sequence[Version], meta: Meta) -> bytes:
    """The versions as PDF bytes, the same bytes :func:`paint_with_canvas` gives, much faster."""
    doc = _Document()
    streams: list[str] = []
    # destination → (page index, x, y); a later one of the same name wins, as in reportlab.
    destinations: dict[str, tuple[int, float, float]] = {}
    for version in versions:
        total = len(version.pages)
        for number, page in enumerate(version.pages, start=1):
            dests: dict[str, tuple[float, float]] = {}
            streams.append(_page_stream(doc, page, version.footer, number, total, dests))
            for key, (x, y) in dests.items():
                destinations[key] = (len(streams) - 1, x, y)
            doc.allocations.append(("page", len(streams) - 1))

    # Object numbers, in reportlab's order: the font dictionary, Helvetica, then fonts and pages
    # as first used, the catalogue, the information, the page tree, each page's content, /Dests.
    font_numbers = {REGULAR: 2}
    page_numbers: list[int] = []
    number = 2
    for kind, what in doc.allocations:
        number += 1
        if kind == "font":
            font_numbers[str(what)] = number
        else:
            page_numbers.append(number)
    catalog, info, pages = number + 1, number + 2, number + 3
    contents = [pages + 1 + i for i in range(len(streams))]
    dests_number = pages + 1 + len(streams) if destinations else 0

    objects: list[bytes] = []
    fonts_in_order = sorted(doc.fonts, key=lambda name: int(doc.fonts[name][2:]))
    objects.append(_dictionary([f"{doc.fonts[f]} {font_numbers[f]} 0 R" for f in fonts_in_order]).encode())
    by_number: dict[int, bytes] = {}
    for name, internal in doc.fonts.items():
        by_number[font_numbers[name]] = _font_object(name, internal[1:]).encode()
    for index, page_number in enumerate(page_numbers):
        by_number[page_number] = _PAGE_DICT.format(contents=contents[index], parent=pages).encode()
    for n in range(2, catalog):
        objects.append(by_number[n])
    dests_entry = [f"/Dests {dests_number} 0 R"] if destinations else []
    objects.append(
        _dictionary(
            [
                *dests_entry,
                f"/Lang {_pdf_string(meta.lang)}",
                "/PageMode /UseNone",
                f"/Pages {pages} 0 R",
                "/Type /Catalog",
            ]
        ).encode()
    )
    objects.append(
        _dictionary(
            [
                f"/Author {_pdf_string(meta.author)}",
                f"/CreationDate {_DATE}",
                f"/Creator {_pdf_string(meta.creator)}",
                f"/Keywords {_pdf_string(meta.keywords)}",
                f"/ModDate {_DATE}",
                f"/Producer {_PRODUCER}",
                f"/Subject {_pdf_string(meta.subject)}",
                f"/Title {_pdf_string(meta.title)}",
                "/Trapped /False",
            ]
        ).encode("latin-1")
    )
    objects.append(
        _dictionary(
            [f"/Count {len(page_numbers)}", f"/Kids {_array([f'{n} 0 R' for n in page_numbers])}", "/Type /Pages"]
        ).encode()
    )
    for stream in streams:
        data = stream.encode("latin-1")
        objects.append(b"<<\n/Length %d\n>>\nstream\n%sendstream" % (len(data), data))
    if destinations:
        entries = [
            f"/{key} [ {page_numbers[page]} 0 R /XYZ {fp_str(x)} {fp_str(y)} 0 ]"
            for key, (page, x, y) in sorted(destinations.items())
        ]
        objects.append(_dictionary(entries).encode("latin-1"))

    out = [_HEADER]
    offset = len(_HEADER)
    offsets: list[int] = []
    for n, body in enumerate(objects, start=1):
        offsets.append(offset)
        chunk = b"%d 0 obj\n%s\nendobj\n" % (n, body)
        out.append(chunk)
        offset += len(chunk)
    signature = hashlib.md5(_ID_SEED, usedforsecurity=False)
    for value in (meta.title, meta.author, meta.subject, meta.keywords):
        signature.update(value.encode("utf8"))
    file_id = f"<{signature.hexdigest()}>"
    out.append(
        (
            f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n"
            + "".join(f"{o:010d} 00000 n \n" for o in offsets)
            + f"trailer\n<<\n/ID \n[{file_id}{file_id}]\n% ReportLab generated PDF document -- digest (opensource)\n\n"
            + f"/Info {info} 0 R\n/Root {catalog} 0 R\n/Size {len(objects) + 1}\n>>\nstartxref\n{offset}\n%%EOF\n"
        ).encode()
    )
    return b"".join(out)
