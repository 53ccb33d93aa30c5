"""Signatures printed on the agreement's own signature lines.

The agreement marks each signature line with named destinations (``sig.<role>.<language>`` at
the start of the line, ``date.<role>.<language>`` where the date goes, ``name.<role>.<language>``
after the name caption; see :mod:`adapters.documents.agreement_pdf`). The signed copy reads them
and stamps, on the page where they are, each signer's typed name (in a script-like italic) or
drawn signature above the line, and the date and time of signing after "Date:" — on every
language version of the agreement. A PDF without the marks (an older agreement, a provider's)
gets no stamps; the signature record page still says who signed.
"""

from __future__ import annotations

import io
import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pypdf import PdfReader, PdfWriter
from reportlab.lib.colors import Color
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from adapters.documents.agreement_pdf import BOLD, printable
from checkout_core.ports.documents import SignatureEvidence

log = logging.getLogger("checkout.documents")

#: Signature ink: a dark blue, as from a pen.
SIGNATURE_INK = Color(0.05, 0.15, 0.45)
SIGNATURE_FONT = "Times-BoldItalic"
#: The widest a drawn signature is printed (the line is about 240 points long).
IMAGE_WIDTH, IMAGE_HEIGHT = 200.0, 28.0


def local_stamp(signature: SignatureEvidence) -> str:
    """When it was signed on the signer's local clock: ``2025-12-23 20:31 EST``."""
    moment = signature.signed_at
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    try:
        zone = ZoneInfo(signature.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or 'UTC'}"


def signature_marks(agreement: PdfReader) -> dict[int, list[tuple[str, str, float, float]]]:
    """The agreement's signature marks by page index: (kind, role, x, y), kind ``sig`` (y is the
    line), ``date`` or ``name`` (y is the baseline of the text the value follows)."""
    marks: dict[int, list[tuple[str, str, float, float]]] = defaultdict(list)
    try:
        destinations = agreement.named_destinations
    except Exception:  # a damaged name tree: no marks, so no stamps (the record page still says who signed)
        log.warning("the agreement's named destinations are unreadable; signatures go on the record page only")
        return marks
    for name, destination in destinations.items():
        parts = str(name).lstrip("/").split(".")
        if len(parts) != 3 or parts[0] not in ("sig", "date", "name"):
            continue
        page = agreement.get_destination_page_number(destination)
        left, top = destination.left, destination.top
        if page is None or page < 0 or left is None or top is None:
            continue
        marks[page].append((parts[0], parts[1], float(left), float(top)))
    return marks


def sign_on_lines(merged: PdfWriter, agreement: PdfReader, signatures: Sequence[SignatureEvidence]) -> int:
    """Stamp ``signatures`` on their lines in ``merged`` (whose first pages are ``agreement``'s);
    returns how many lines were signed."""
    by_role = {s.role: s for s in signatures}
    signed = 0
    for index, marks in sorted(signature_marks(agreement).items()):
        wanted = [m for m in marks if m[1] in by_role]
        if not wanted:
            continue
        box = agreement.pages[index].mediabox
        buffer = io.BytesIO()
        c = Canvas(buffer, pagesize=(float(box.width), float(box.height)), invariant=1, pageCompression=0)
        for kind, role, x, y in wanted:
            signature = by_role[role]
            if kind == "sig":
                _signature(c, signature, x, y)
                signed += 1
            elif kind == "date":
                c.setFont(BOLD, 8.5)
                c.setFillColor(SIGNATURE_INK)
                c.drawString(x, y, local_stamp(signature))
            elif kind == "name" and role == "dealer":
                c.setFont(BOLD, 8.5)
                c.setFillColor(SIGNATURE_INK)
                title = f", {signature.signer_title}" if signature.signer_title else ""
                c.drawString(x, y, printable(f"{signature.signer_name}{title}", 80))
        c.showPage()
        c.save()
        merged.pages[index].merge_page(PdfReader(io.BytesIO(buffer.getvalue())).pages[0])
    return signed


def _signature(c: Canvas, signature: SignatureEvidence, x: float, y: float) -> None:
    """The drawn image, or the typed name, just above the line at (x, y)."""
    if signature.signature_image:
        try:
            image = ImageReader(io.BytesIO(signature.signature_image))
            c.drawImage(
                image,
                x + 4,
                y + 2,
                width=IMAGE_WIDTH,
                height=IMAGE_HEIGHT,
                preserveAspectRatio=True,
                anchor="sw",
                mask="auto",
            )
            return
        except Exception:  # an unreadable image: fall back to the typed name, never fail the signing
            log.warning("the drawn signature of %s is not a readable image; the typed name is printed", signature.role)
    c.setFont(SIGNATURE_FONT, 16)
    c.setFillColor(SIGNATURE_INK)
    c.drawString(x + 6, y + 5, printable(signature.signer_name, 60))
