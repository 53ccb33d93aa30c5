"""The purchase agreement (bill of sale) as a PDF, drawn with reportlab.

It carries what an Ontario used-vehicle bill of sale must show: the buyer, the dealer and its
registration number, the advisor, the dates of sale and delivery, the vehicle (VIN, year, make,
model, trim, colour, body type, odometer), every charge and each tax, the trade-in, the total,
deposit, down payment and balance owing, the financing disclosure when financed, delivery, the
terms, and the "sales final" statement beside the buyer's signature.

Rendering is deterministic: the same :class:`AgreementInput` gives the same bytes (reportlab's
``invariant`` mode fixes the creation date and file id; nothing reads the clock or the locale),
so the SHA-256 recorded for an agreement can be reproduced from the order it was made from.

Layout is done in two passes (not platypus, which is several times slower): the first places
every string and breaks pages, recording drawing operations as data; the second paints them, so
each footer can say "page 2 of 3" — a page removed from a printed copy shows. The painting is
done by :mod:`adapters.documents.pdf_writer`'s direct writer, which writes the bytes reportlab's
canvas writes (kept as the reference: :meth:`ReportlabAgreementRenderer.render_with_canvas`).

What is the same in every agreement is made once per process: a block of the layout (a
paragraph of the terms, a note, the disclosure checklist) is kept with the height it started at
and replayed when the same block starts there again (:meth:`PageLayout.reuse`), and each
string's PDF operators are formatted once; only the order's own fields are measured, placed and
formatted per agreement. Text uses the PDF standard fonts (nothing embedded, text extractable);
they cover Latin-1 (French accents included), and anything beyond prints from Symbol or
ZapfDingbats, or as a box.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Hashable, Sequence
from datetime import date
from decimal import Decimal

from reportlab.lib.colors import Color
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth

from adapters.documents import pdf_writer
from adapters.documents.agreement_text import Catalogue, catalogue
from adapters.documents.pdf_writer import (
    Destination,
    Footer,
    Line,
    Meta,
    Op,
    Rect,
    Text,
    Version,
    paint_with_canvas,
    write_pdf,
)
from checkout_core.model.disclosures import Answer, ChecklistItem, disclosure_checklist
from checkout_core.model.language import agreement_language
from checkout_core.model.order import Delivery, DeliveryMethod, PaymentChoice
from checkout_core.model.vehicle import DisclosureKind, WarrantyKind
from checkout_core.money import Money
from checkout_core.ports.documents import AgreementInput

REGULAR = "Helvetica"
BOLD = "Helvetica-Bold"
OBLIQUE = "Helvetica-Oblique"

PAGE_WIDTH, PAGE_HEIGHT = LETTER  # Canadian dealers print on US Letter
MARGIN = 54.0
LEFT = MARGIN
RIGHT = PAGE_WIDTH - MARGIN
WIDTH = RIGHT - LEFT
TOP = PAGE_HEIGHT - MARGIN
BOTTOM = 64.0  # content stops here; the footer sits below
FOOTER_Y = 36.0

INK = Color(0.11, 0.11, 0.11)
MUTED = Color(0.38, 0.38, 0.38)
RULE = Color(0.72, 0.72, 0.72)
BAND = Color(0.91, 0.93, 0.95)
ACCENT = Color(0.08, 0.22, 0.40)

#: Named destinations marking where signatures go: ``sig.<role>.<language>`` (the start of the
#: signature line) and ``date.<role>.<language>`` (where its date and time are written). The
#: signed-copy maker reads them to print each signature on its own line.
SIGNATURE_ROLES = ("buyer", "dealer")


# -- text helpers (shared with the signature page) -------------------------------------------


def printable(value: object, limit: int = 1000) -> str:
    """``value`` as one line of printable text, at most ``limit`` characters.

    Control and format characters (newlines, tabs, bidi overrides, zero-width joiners) become
    spaces: input typed by a buyer or sent by a browser must not be able to break a line or
    reorder what the page shows."""
    text = str(value)
    # str.isprintable is False exactly for the categories C* and Z* other than the ASCII space, so
    # the common all-printable string skips the character-by-character pass.
    if not text.isprintable():
        text = "".join(" " if unicodedata.category(ch)[0] in "CZ" and ch != " " else ch for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def long_date(day: date) -> str:
    """``December 23, 2025``, independent of the process locale (which ``%B`` is not)."""
    return catalogue("en").date(day)


def percent(rate: Decimal) -> str:
    """A fraction as a percentage without trailing zeros: ``0.13`` → ``13%``, ``0.09975`` → ``9.975%``."""
    return f"{(rate * 100).normalize():f}%"


def apr_text(apr_percent: Decimal) -> str:
    """An APR already in percent: ``5.217`` → ``5.217%``."""
    return f"{apr_percent.normalize():f}%"


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width`` points (long words are split)."""
    return list(_wrapped(text, font, size, width))


# Measuring text is most of the layout's work, and most text (terms, headings, labels) is the
# same in every agreement: wrapping is a pure function of its arguments, so it is cached.
@functools.lru_cache(maxsize=4096)
def _wrapped(text: str, font: str, size: float, width: float) -> tuple[str, ...]:
    lines = simpleSplit(text, font, size, width) or [""]
    if all(stringWidth(line, font, size) <= width for line in lines):
        return tuple(lines)
    # reportlab breaks at spaces only: a word wider than the line (a long e-mail address, a
    # URL) is cut where it fills the line, so it never runs out of its box.
    out: list[str] = []
    for line in lines:
        while stringWidth(line, font, size) > width and len(line) > 1:
            cut = len(line) - 1
            while cut > 1 and stringWidth(line[:cut], font, size) > width:
                cut -= 1
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def _paragraph_lines(value: str, font: str, size: float, available: float, first_indent: float) -> tuple[str, ...]:
    """``value`` wrapped to ``available`` points, its first line shorter by ``first_indent``."""
    words = value.split()
    first: list[str] = []
    while words and stringWidth(" ".join([*first, words[0]]), font, size) <= available - first_indent:
        first.append(words.pop(0))
    return (" ".join(first), *(_wrapped(" ".join(words), font, size, available) if words else ()))


# -- the two-pass layout ------------------------------------------------------------------------

#: Blocks of the layout kept for reuse (see :meth:`PageLayout.reuse`): (key, y) → (ops, y after).
#: Plain dict reads and writes are atomic, and what is stored is immutable, so the renderer's
#: threads share it without a lock.
_BLOCKS: dict[tuple[Hashable, float], tuple[tuple[Op, ...], float]] = {}
_BLOCKS_KEPT = 2048


def clear_caches() -> None:
    """Forget what this process kept for the next agreements: placed blocks, wrapped lines and
    formatted operators. Rendering gives the same bytes either way (the tests check it); the
    benchmark uses this to measure a process's first agreement."""
    _BLOCKS.clear()
    _wrapped.cache_clear()
    _paragraph_lines.cache_clear()
    pdf_writer.clear_caches()


class PageLayout:
    """Places text top-down over as many pages as needed, recording how to paint each page.

    ``continued`` is printed at the top of every page after the first."""

    def __init__(self, continued: str) -> None:
        self.pages: list[list[Op]] = [[]]
        self.y = TOP
        self._continued = continued

    # primitives

    def op(self, op: Op) -> None:
        """Record a drawing operation (a string, a line, a box, a destination) on the current page."""
        self.pages[-1].append(op)

    def text(
        self,
        x: float,
        y: float,
        value: str,
        *,
        font: str = REGULAR,
        size: float = 9,
        color: Color = INK,
        align: str = "left",
    ) -> None:
        """One string at (x, y); ``align`` is left, right (x is the right edge) or centre."""
        self.pages[-1].append(Text(x, y, value, font, size, color, align))

    def line(self, x1: float, y1: float, x2: float, y2: float, *, color: Color = RULE, width: float = 0.6) -> None:
        """A straight line."""
        self.pages[-1].append(Line(x1, y1, x2, y2, color, width))

    def destination(self, key: str, x: float, y: float) -> None:
        """A named destination at (x, y) on the current page (see :data:`SIGNATURE_ROLES`)."""
        self.pages[-1].append(Destination(key, x, y))

    def box(
        self, x: float, y: float, w: float, h: float, *, fill: Color | None = None, stroke: Color | None = RULE
    ) -> None:
        """A rectangle with its lower-left corner at (x, y)."""
        self.pages[-1].append(Rect(x, y, w, h, fill, stroke))

    # flow

    def new_page(self) -> None:
        """Continue on a fresh page, under a small running header."""
        self.pages.append([])
        self.y = TOP
        self.text(LEFT, self.y - 8, self._continued, font=BOLD, size=8, color=MUTED)
        self.line(LEFT, self.y - 13, RIGHT, self.y - 13)
        self.y -= 26

    def need(self, height: float) -> None:
        """Break the page unless ``height`` points still fit above the bottom margin."""
        if self.y - height < BOTTOM:
            self.new_page()

    def gap(self, height: float) -> None:
        """Vertical space (dropped at a page break)."""
        self.y = max(self.y - height, BOTTOM)

    def section(self, title: str, keep_with_next: float = 40) -> None:
        """A shaded section heading, kept on a page with at least ``keep_with_next`` points after it."""
        self.need(18 + keep_with_next)
        self.box(LEFT, self.y - 15, WIDTH, 15, fill=BAND, stroke=None)
        self.text(LEFT + 6, self.y - 11, title.upper(), font=BOLD, size=8.5, color=ACCENT)
        self.y -= 22

    def reuse(self, key: Hashable, draw: Callable[[], None]) -> None:
        """Lay out ``draw()``, or replay what it recorded the last time it started at this height.

        ``draw`` must depend on nothing but ``key`` and where it starts (the page's ``y``): then
        what it records, and where it ends, are the same wherever that pair recurs. Most of an
        agreement — terms, notes, the disclosure checklist — is the same text at the same place
        in every agreement of the same shape, so it is measured and placed once per process. A
        block that broke the page is not kept (the running header of the new page names the
        order); the blocks inside it are."""
        start = (key, self.y)
        kept = _BLOCKS.get(start)
        if kept is not None:
            ops, self.y = kept
            self.pages[-1].extend(ops)
            return
        pages, first = len(self.pages), len(self.pages[-1])
        draw()
        if len(self.pages) == pages:
            if len(_BLOCKS) >= _BLOCKS_KEPT:
                _BLOCKS.clear()  # a bound, not an eviction policy: the blocks that matter come back at once
            _BLOCKS[start] = (tuple(self.pages[-1][first:]), self.y)

    def paragraph(
        self,
        value: str,
        *,
        font: str = REGULAR,
        size: float = 8.5,
        indent: float = 0,
        width: float = WIDTH,
        lead: str = "",
        heading: str = "",
        color: Color = INK,
    ) -> None:
        """Wrapped text; ``lead`` (e.g. ``3.``) hangs in the indent of the first line and
        ``heading`` runs in, in bold, at the start of the first line."""
        # The colours are this module's constants: their components identify them.
        key = ("paragraph", value, font, size, indent, width, lead, heading, color.red, color.green, color.blue)
        self.reuse(key, lambda: self._paragraph(value, font, size, indent, width, lead, heading, color))

    def _paragraph(
        self, value: str, font: str, size: float, indent: float, width: float, lead: str, heading: str, color: Color
    ) -> None:
        leading = size * 1.3
        available = width - indent
        head = f"{heading} " if heading else ""
        head_width = stringWidth(head, BOLD, size) if head else 0.0
        # The first line is shorter by the run-in heading; the rest wrap on the full width.
        lines = _paragraph_lines(value, font, size, available, head_width)
        for i, line in enumerate(lines):
            self.need(leading)
            x = LEFT + indent
            if i == 0:
                if lead:
                    self.text(max(LEFT, x - 14), self.y - size, lead, font=BOLD, size=size)
                if head:
                    self.text(x, self.y - size, head, font=BOLD, size=size, color=color)
                    x += head_width
            self.text(x, self.y - size, line, font=font, size=size, color=color)
            self.y -= leading

    def fields(self, pairs: Sequence[tuple[str, str]], *, columns: int = 2, label_width: float = 78) -> None:
        """Label/value pairs in a grid of ``columns``, row by row; long values wrap."""
        size, leading = 8.5, 11.5
        column_width = WIDTH / columns
        value_width = column_width - label_width - 10
        for start in range(0, len(pairs), columns):
            row = pairs[start : start + columns]
            wrapped = [wrap(value, BOLD, size, value_width) for _, value in row]
            height = max(len(lines) for lines in wrapped) * leading + 3
            self.need(height)
            for col, ((label, _), lines) in enumerate(zip(row, wrapped, strict=True)):
                x = LEFT + col * column_width
                self.text(x, self.y - size, label, size=size, color=MUTED)
                for n, line in enumerate(lines):
                    self.text(x + label_width, self.y - size - n * leading, line, font=BOLD, size=size)
            self.y -= height

    def amounts(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """An itemised column of amounts: (description, amount, style) with style
        ``item``, ``sub`` (a rule above), ``total`` (bold, heavy rule above) or ``note``."""
        size, leading = 8.5, 12.5
        amount_x = RIGHT - 4
        for label, amount, style in rows:
            font = BOLD if style in ("total", "sub") else REGULAR
            lines = wrap(label, font, size, WIDTH - 130)
            self.need(len(lines) * leading + (4 if style in ("sub", "total") else 0))
            if style in ("sub", "total"):
                self.line(
                    RIGHT - 200,
                    self.y,
                    RIGHT,
                    self.y,
                    color=INK if style == "total" else RULE,
                    width=1.0 if style == "total" else 0.6,
                )
                self.y -= 3
            for n, line in enumerate(lines):
                self.text(
                    LEFT + (12 if style == "note" else 4),
                    self.y - size - n * leading,
                    line,
                    font=OBLIQUE if style == "note" else font,
                    size=size - (0.5 if style == "note" else 0),
                    color=MUTED if style == "note" else INK,
                )
            if amount:
                self.text(
                    amount_x,
                    self.y - size,
                    amount,
                    font=font,
                    size=size + (0.5 if style == "total" else 0),
                    align="right",
                )
            self.y -= len(lines) * leading

    def render(self, footer: Footer, meta: Meta) -> bytes:
        """Paint every page (with its footer) into PDF bytes."""
        return write_pdf([Version(self.pages, footer)], meta)


# -- the agreement ---------------------------------------------------------------------------


class ReportlabAgreementRenderer:
    """Implements :class:`~checkout_core.ports.documents.AgreementRenderer` with reportlab.

    ``return_window_days`` is the return policy printed in the terms and in the "sales final"
    statement (the ``CHECKOUT_RETURN_WINDOW_DAYS`` setting; 0 means no return policy). The
    agreement is written in each of :attr:`AgreementInput.languages` (by default the order's
    language: French for a buyer in Quebec), one complete version after the other."""

    def __init__(self, *, return_window_days: int = 10) -> None:
        if return_window_days < 0:
            raise ValueError("return_window_days must not be negative")
        self._return_days = return_window_days

    def render(self, agreement: AgreementInput) -> bytes:
        """The agreement as PDF bytes (deterministic: same input, same bytes)."""
        return write_pdf(*self._laid_out(agreement))

    def render_with_canvas(self, agreement: AgreementInput) -> bytes:
        """The same agreement painted by reportlab's canvas: the reference :meth:`render`'s
        direct writer is checked against (the same bytes), several times slower."""
        return paint_with_canvas(*self._laid_out(agreement))

    def _laid_out(self, agreement: AgreementInput) -> tuple[list[Version], Meta]:
        languages = agreement.languages or (agreement_language(agreement.order),)
        versions = [_Version(catalogue(lang), agreement, self._return_days).lay_out() for lang in languages]
        first = catalogue(languages[0])
        number = printable(agreement.order.number, 40)
        vehicle = agreement.vehicle
        meta = Meta(
            title=first.t("title", number=number),
            author=printable(agreement.dealer.name, 200),
            subject=printable(first.t("subject", vehicle=vehicle.title, vin=vehicle.vin), 200),
            creator="checkout-backend (reportlab agreement renderer)",
            keywords=first.t("keywords", number=number),
            lang=first.locale,
        )
        return versions, meta


# Clause numbers the "sales final" statement refers to (see _Version._terms).
_CANCEL_CLAUSE = 3
_RETURN_CLAUSE = 4


class _Version:
    """The agreement laid out in one language."""

    def __init__(self, text: Catalogue, agreement: AgreementInput, return_days: int) -> None:
        self.text = text
        self.t = text.t
        self.agreement = agreement
        self.return_days = return_days

    def lay_out(self) -> Version:
        """The pages and their footer."""
        agreement = self.agreement
        number = printable(agreement.order.number, 40)
        layout = PageLayout(self.t("continued", number=number))
        self._header(layout)
        self._parties(layout)
        self._vehicle(layout)
        self._price(layout)
        self._trade_in(layout)
        self._payment(layout)
        if agreement.order.payment.method is PaymentChoice.FINANCE:
            self._financing(layout)
        self._delivery(layout)
        self._terms(layout)
        self._signatures(layout)

        dealer = agreement.dealer
        footer_left = printable(
            self.t("footer_dealer", dealer=dealer.name, registration=dealer.registration_number), 110
        )
        t = self.t

        def page_of(page: int, pages: int) -> str:
            return t("footer_page", number=number, page=page, pages=pages)

        footer = Footer(footer_left, page_of, FOOTER_Y, LEFT, RIGHT, RULE, MUTED)
        return Version(layout.pages, footer)

    # -- helpers -------------------------------------------------------------------------------

    def _money(self, amount: Money) -> str:
        return self.text.money(amount)

    def _or_not_stated(self, value: str) -> str:
        return printable(value) or self.t("not_stated")

    def _province(self, code: str) -> str:
        return self.text.strings.get(f"province.{code}", code)

    def _delivery_date(self, delivery: Delivery) -> str:
        if delivery.scheduled_date is not None:
            window = f", {printable(delivery.time_window, 60)}" if delivery.time_window else ""
            return self.t("scheduled", date=self.text.date(delivery.scheduled_date), window=window)
        if delivery.preferred_date is not None:
            return self.t("requested", date=self.text.date(delivery.preferred_date))
        return self.t("to_be_scheduled")

    # -- sections ------------------------------------------------------------------------------

    def _header(self, layout: PageLayout) -> None:
        t = self.t
        agreement = self.agreement
        dealer = agreement.dealer
        y = layout.y
        layout.text(LEFT, y - 14, printable(dealer.name, 60), font=BOLD, size=14, color=ACCENT)
        left_lines = [
            printable(dealer.address, 90),
            t("dealer_registration_no", registration=printable(dealer.registration_number, 60)),
        ]
        # The tax registration numbers an invoice charging GST/HST (or QST) must carry.
        if dealer.gst_number:
            left_lines.append(t("gst_no", number=printable(dealer.gst_number, 40)))
        if dealer.qst_number and any(line.kind == "QST" for line in agreement.order.pricing.tax.lines):
            left_lines.append(t("qst_no", number=printable(dealer.qst_number, 40)))
        contact = " · ".join(printable(v, 60) for v in (dealer.phone, dealer.email) if v)
        if contact:
            left_lines.append(contact)
        for n, line in enumerate(left_lines):
            layout.text(LEFT, y - 28 - n * 11, line, size=8.5, color=MUTED)

        layout.text(RIGHT, y - 13, t("heading"), font=BOLD, size=12.5, align="right")
        layout.text(RIGHT, y - 26, t("subheading"), size=8.5, color=MUTED, align="right")
        number = printable(agreement.order.number, 40)
        layout.text(RIGHT, y - 40, t("agreement_no", number=number), font=BOLD, size=9, align="right")
        sale = t("date_of_sale", date=self.text.date(agreement.sale_date))
        layout.text(RIGHT, y - 52, sale, size=9, align="right")
        bottom = y - max(60.0, 28 + len(left_lines) * 11)
        layout.line(LEFT, bottom, RIGHT, bottom, color=ACCENT, width=1.4)
        layout.y = bottom - 12

    def _parties(self, layout: PageLayout) -> None:
        t = self.t
        agreement = self.agreement
        contact = agreement.order.contact
        address = contact.address
        advisor = agreement.advisor
        dealer = agreement.dealer
        columns = [
            (
                t("buyer_box"),
                [
                    (printable(contact.full_name, 120), BOLD),
                    (printable(address.street, 200), REGULAR),
                    (printable(f"{address.city}, {address.province} {address.postal_code}", 160), REGULAR),
                    (t("phone", phone=printable(contact.phone, 40)), REGULAR),
                    (t("email", email=printable(contact.email, 254)), REGULAR),
                ],
            ),
            (
                t("dealer_box"),
                [
                    (printable(dealer.name, 120), BOLD),
                    (printable(dealer.address, 200), REGULAR),
                    (t("registration_no", registration=printable(dealer.registration_number, 60)), REGULAR),
                    (t("sales_advisor", name=printable(advisor.name, 120)), REGULAR),
                    (printable(" · ".join(v for v in (advisor.phone, advisor.email) if v), 200), REGULAR),
                ],
            ),
        ]
        size, leading, pad = 8.5, 11.0, 7.0
        column_width = (WIDTH - 12) / 2
        # An e-mail address has no space to break at: wrap cuts it, so it stays in its box.
        wrapped = [
            [(piece, font) for text, font in lines for piece in wrap(text, font, size, column_width - 2 * pad)]
            for _, lines in columns
        ]
        height = 2 * pad + 12 + max(len(lines) for lines in wrapped) * leading
        layout.need(height)
        top = layout.y
        for col, ((title, _), lines) in enumerate(zip(columns, wrapped, strict=True)):
            x = LEFT + col * (column_width + 12)
            layout.box(x, top - height, column_width, height)
            layout.text(x + pad, top - pad - 7, title, font=BOLD, size=7.5, color=ACCENT)
            for n, (line, font) in enumerate(lines):
                layout.text(x + pad, top - pad - 12 - size - n * leading, line, font=font, size=size)
        layout.y = top - height - 12

    def _vehicle(self, layout: PageLayout) -> None:
        t = self.t
        vehicle = self.agreement.vehicle
        layout.section(t("vehicle"))
        layout.fields(
            [
                (t("year"), str(vehicle.year)),
                (t("make"), self._or_not_stated(vehicle.make)),
                (t("model"), self._or_not_stated(vehicle.model)),
                (t("trim"), self._or_not_stated(vehicle.trim)),
                (t("body_type"), self._or_not_stated(vehicle.body_type)),
                (t("colour"), self._or_not_stated(vehicle.colour)),
                (t("vin"), self._or_not_stated(vehicle.vin)),
                (t("odometer"), t("odometer_value", km=self.text.number(vehicle.odometer_km))),
                (t("stock_no"), self._or_not_stated(vehicle.stock_number)),
                (t("condition"), t("used")),
            ]
        )
        layout.gap(4)
        layout.paragraph(t("safety_heading"), font=BOLD, size=8.5)
        if vehicle.sold_as_is:
            layout.paragraph(t("as_is"), font=BOLD)
        else:
            layout.paragraph(t("certified", certificate=printable(vehicle.safety_certificate, 60)))
        layout.gap(4)
        layout.paragraph(t("warranty_heading"), font=BOLD, size=8.5)
        warranty = vehicle.warranty
        detail = printable(warranty.detail, 300)
        suffix = f": {detail}" if detail else ""
        if warranty.kind is WarrantyKind.MANUFACTURER:
            layout.paragraph(t("warranty_manufacturer", detail=suffix))
        elif warranty.kind is WarrantyKind.EXTENDED:
            layout.paragraph(t("warranty_extended", detail=suffix))
        else:
            layout.paragraph(t("warranty_none"))
        layout.gap(4)
        self._disclosures(layout)
        layout.gap(8)

    def _disclosures(self, layout: PageLayout) -> None:
        """OMVIC's written disclosure of material facts: every category, answered yes or no."""
        items = disclosure_checklist(self.agreement.vehicle)
        key = ("disclosures", self.text.language, tuple((item.kind, item.answer, item.details) for item in items))
        layout.reuse(key, lambda: self._checklist(layout, items))

    def _checklist(self, layout: PageLayout, items: Sequence[ChecklistItem]) -> None:
        t = self.t
        layout.paragraph(t("disclosures_heading"), font=BOLD, size=8.5)
        layout.paragraph(t("disclosures_intro"), size=8, color=MUTED)
        size, leading = 8, 10.5
        answer_x = RIGHT - 30
        for n, item in enumerate(items, start=1):
            title = t(f"disclosure.{item.kind.value}")
            details = printable(item.details, 300)
            if item.kind is DisclosureKind.OTHER and item.answer is Answer.NO:
                details = t("no_other_material_fact")
            lines = wrap(title, REGULAR, size, WIDTH - 60)
            detail_lines = wrap(details, OBLIQUE, size, WIDTH - 60) if details else []
            layout.need((len(lines) + len(detail_lines)) * leading + 2)
            layout.text(LEFT + 10, layout.y - size, f"{n}.", font=BOLD, size=size, align="right")
            for k, line in enumerate(lines):
                layout.text(LEFT + 16, layout.y - size - k * leading, line, size=size)
            yes = item.answer is Answer.YES
            layout.text(
                answer_x, layout.y - size, t("yes" if yes else "no"), font=BOLD, size=size, color=INK if yes else MUTED
            )
            layout.y -= len(lines) * leading
            for line in detail_lines:
                layout.text(LEFT + 26, layout.y - size, line, font=OBLIQUE, size=size, color=INK if yes else MUTED)
                layout.y -= leading
            layout.y -= 1.5

    def _price(self, layout: PageLayout) -> None:
        t = self.t
        text = self.text
        pricing = self.agreement.order.pricing
        dealer = self.agreement.dealer
        tax = pricing.tax
        rows: list[tuple[str, str, str]] = [
            (t("vehicle_price"), text.money(pricing.vehicle_price), "item"),
            (t("trade_in_credit"), text.less(pricing.trade_in_credit), "item"),
            (t("admin_fee"), text.money(pricing.admin_fee), "item"),
            (t("documentation_fee"), text.money(pricing.documentation_fee), "item"),
            (t("subtotal"), text.money(pricing.subtotal), "sub"),
        ]
        taxable = tax.taxable if tax.taxable.cents > 0 else Money.zero(tax.taxable.currency)
        for line in tax.lines:
            kind = text.strings.get(f"tax.{line.kind}", line.kind)
            label = t("tax_line", kind=kind, rate=text.percent(line.rate), amount=text.money(taxable))
            rows.append((label, text.money(line.amount), "item"))
        if len(tax.lines) > 1:
            rows.append((t("tax_total", rate=text.percent(tax.rate)), text.money(tax.total), "item"))
        # Not taxable, so after the tax; printed when it is 0 too, rather than leaving the buyer
        # to wonder whether plates cost extra.
        rows.append((t("licence_fee"), text.money(pricing.licence_fee), "item"))
        rows.append((t("total_price"), text.money(pricing.total_due), "total"))
        note = t("rates_in_force", date=text.date(pricing.priced_on), province=self._province(pricing.province))
        if pricing.trade_in_credit.cents:
            note += t("trade_in_reduces")
        if dealer.gst_number:
            charges_qst = dealer.qst_number and any(line.kind == "QST" for line in tax.lines)
            if charges_qst:
                note += t("tax_numbers_qst", gst=printable(dealer.gst_number, 40), qst=printable(dealer.qst_number, 40))
            else:
                note += t("tax_numbers", gst=printable(dealer.gst_number, 40))
        rows.append((note, "", "note"))
        layout.section(t("price_heading"), keep_with_next=len(rows) * 12.5)
        layout.amounts(rows)
        layout.gap(8)

    def _trade_in(self, layout: PageLayout) -> None:
        t = self.t
        trade_in = self.agreement.order.trade_in
        layout.section(t("trade_in_heading"))
        if trade_in is None:
            layout.paragraph(t("no_trade_in"))
        else:
            layout.fields(
                [
                    (t("trade_in_vehicle"), self._or_not_stated(trade_in.description)),
                    (t("credit_applied"), self._money(trade_in.credit)),
                    (t("appraisal_ref"), self._or_not_stated(trade_in.offer_id)),
                ],
                columns=1,
                label_width=90,
            )
            layout.paragraph(t("trade_in_statement"), size=8, color=MUTED)
        layout.gap(8)

    def _payment(self, layout: PageLayout) -> None:
        t = self.t
        text = self.text
        order = self.agreement.order
        plan = order.payment
        total = order.pricing.total_due
        balance = total - plan.deposit - plan.down_payment
        financed = plan.method is PaymentChoice.FINANCE
        lender = printable(plan.lender or t("the_lender"), 80)
        rows: list[tuple[str, str, str]] = [
            (t("total_price"), text.money(total), "item"),
            (t("deposit_received"), text.less(plan.deposit), "item"),
            (t("down_payment_financed" if financed else "down_payment"), text.less(plan.down_payment), "item"),
            (
                t("balance_financed", lender=lender) if financed else t("balance_cash"),
                text.money(balance),
                "total",
            ),
            (t("financed_note") if financed else t("cash_note"), "", "note"),
        ]
        layout.section(t("payment_heading"), keep_with_next=len(rows) * 12.5)
        layout.amounts(rows)
        layout.gap(8)

    def _financing(self, layout: PageLayout) -> None:
        t = self.t
        text = self.text
        plan = self.agreement.order.payment
        financed = plan.financed_amount
        pairs: list[tuple[str, str]] = [
            (t("lender"), self._or_not_stated(plan.lender or "")),
            (t("amount_financed"), text.money(financed)),
        ]
        if plan.apr_percent is not None and plan.term_months and plan.monthly_payment is not None:
            total_of_payments = Money(plan.monthly_payment.cents * plan.term_months, financed.currency)
            pairs += [
                (t("apr"), text.percent_value(plan.apr_percent)),
                (t("term"), t("term_value", months=plan.term_months)),
                (t("monthly_payment"), text.money(plan.monthly_payment)),
                (t("total_of_payments"), text.money(total_of_payments)),
                (t("cost_of_borrowing"), text.money(total_of_payments - financed)),
            ]
        else:
            pairs.append((t("terms_label"), t("lender_terms")))
        layout.section(t("financing_heading"), keep_with_next=70)
        layout.fields(pairs, label_width=92)
        layout.paragraph(t("financing_note"), size=8, color=MUTED)
        layout.gap(8)

    def _delivery(self, layout: PageLayout) -> None:
        t = self.t
        delivery = self.agreement.order.delivery
        if delivery.method is DeliveryMethod.DELIVERY:
            method = t("home_delivery")
            where = delivery.address.one_line() if delivery.address else t("to_be_confirmed")
            where_label = t("deliver_to")
        else:
            method = t("pickup")
            where = delivery.address.one_line() if delivery.address else t("pickup_location")
            where_label = t("pickup_at")
        layout.section(t("delivery_heading"))
        layout.fields(
            [
                (t("method"), method),
                (where_label, printable(where, 250)),
                (t("delivery_date"), self._delivery_date(delivery)),
            ],
            columns=1,
            label_width=90,
        )
        layout.gap(8)

    def _sales_final(self) -> str:
        if self.return_days:
            return self.t("sales_final.return", days=self.return_days, clause=_RETURN_CLAUSE, cancel=_CANCEL_CLAUSE)
        return self.t("sales_final", cancel=_CANCEL_CLAUSE)

    def _terms(self, layout: PageLayout) -> None:
        t = self.t
        plan = self.agreement.order.payment
        dealer = self.agreement.dealer
        days = self.return_days
        # Clause 3 (cancellation) and 4 (return or finality) are referred to by number from the
        # statement beside the buyer's signature: keep them there.
        clauses = [
            (t("term.deposit"), t("term.deposit.body", deposit=self._money(plan.deposit))),
            (t("term.payment"), t("term.payment.body")),
            (t("term.cancellation"), t("term.cancellation.body")),
        ]
        if days:
            clauses.append((t("term.return", days=days), t("term.return.body", days=days)))
            clauses.append(
                (
                    t("term.final"),
                    t("term.final.body.return", days=days, clause=_RETURN_CLAUSE, cancel=_CANCEL_CLAUSE),
                )
            )
        else:
            clauses.append((t("term.final"), t("term.final.body", cancel=_CANCEL_CLAUSE)))
        clauses += [
            (t("term.taxes"), t("term.taxes.body")),
            (t("term.esign"), t("term.esign.body")),
            (
                t("term.registration"),
                t(
                    "term.registration.body",
                    dealer=printable(dealer.name, 120),
                    registration=printable(dealer.registration_number, 60),
                ),
            ),
            (t("term.entire"), t("term.entire.body")),
        ]
        layout.section(t("terms_heading"))
        for n, (title, body) in enumerate(clauses, start=1):
            layout.paragraph(body, heading=f"{title}.", indent=16, lead=f"{n}.", size=8)
            layout.gap(2)
        layout.gap(8)

    def _signatures(self, layout: PageLayout) -> None:
        t = self.t
        lang = self.text.language
        contact = self.agreement.order.contact
        dealer = self.agreement.dealer
        half = (WIDTH - 24) / 2
        sign_x = LEFT + half + 24
        statement = wrap(self._sales_final(), BOLD, 9, half - 18)
        statement_height = max(len(statement) * 12 + 14, 46.0)
        # Both rows, the note under them and a little air, so the block never splits over two pages.
        layout.section(t("signatures_heading"), keep_with_next=max(statement_height, 78.0) + 18 + 14 + 76 + 40)

        # Buyer: the "sales final" statement in a box on the left, beside the signature line.
        top = layout.y
        layout.text(LEFT, top - 8, t("buyer_label"), font=BOLD, size=7.5, color=ACCENT)
        box_top = top - 14
        layout.box(LEFT, box_top - statement_height, half, statement_height, stroke=INK)
        for n, line in enumerate(statement):
            layout.text(LEFT + 9, box_top - 16 - n * 12, line, font=BOLD, size=9)
        name = t("name", name=printable(contact.full_name, 80))
        self._signature_line(layout, sign_x, box_top, half, t("buyer_signature"), [name, t("date")], "buyer", lang)
        layout.y = box_top - max(statement_height, 78.0) - 18

        # Dealer: who signs for it on the left, its signature line on the right.
        top = layout.y
        layout.text(LEFT, top - 8, t("dealer_label"), font=BOLD, size=7.5, color=ACCENT)
        box_top = top - 14
        for n, line in enumerate(
            [
                t("for_dealer", dealer=printable(dealer.name, 90)),
                t("dealer_registration_line", registration=printable(dealer.registration_number, 60)),
            ]
        ):
            layout.text(LEFT, box_top - 12 - n * 12, line, size=8.5)
        self._signature_line(
            layout, sign_x, box_top, half, t("dealer_signature"), [t("name_and_title"), t("date")], "dealer", lang
        )
        layout.y = box_top - 76
        layout.paragraph(t("signature_note"), size=7.5, color=MUTED)

    @staticmethod
    def _signature_line(
        layout: PageLayout, x: float, top: float, width: float, caption: str, below: list[str], role: str, lang: str
    ) -> None:
        """A line to sign on, ``top`` points down to it, with a caption and details beneath; named
        destinations mark the line and the end of its last detail (the date) for the signed copy."""
        line_y = top - 30
        layout.line(x, line_y, x + width, line_y, color=INK, width=0.8)
        layout.destination(f"sig.{role}.{lang}", x, line_y)
        layout.text(x, top - 39, caption, size=7.5, color=MUTED)
        for n, text in enumerate(below):
            layout.text(x, top - 52 - n * 12, text, size=8.5)
        first = below[0]
        layout.destination(f"name.{role}.{lang}", x + stringWidth(first, REGULAR, 8.5) + 4, top - 52)
        last = below[-1]
        layout.destination(
            f"date.{role}.{lang}", x + stringWidth(last, REGULAR, 8.5) + 4, top - 52 - (len(below) - 1) * 12
        )
