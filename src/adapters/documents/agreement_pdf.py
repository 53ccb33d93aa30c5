"""The purchase agreement (bill of sale) as a PDF, drawn with reportlab.

It carries what an Ontario used-vehicle bill of sale must show: the buyer, the dealer and its
registration number, the advisor, the dates of sale and delivery, the vehicle (VIN, year, make,
model, trim, colour, body type, odometer), every charge and each tax, the trade-in, the total,
deposit, down payment and balance owing, the financing disclosure when financed, delivery, the
terms, and the "sales final" statement beside the buyer's signature.

Rendering is deterministic: the same :class:`AgreementInput` gives the same bytes (reportlab's
``invariant`` mode fixes the creation date and file id; nothing reads the clock or the locale),
so the SHA-256 recorded for an agreement can be reproduced from the order it was made from.

Layout is done in two passes on the plain canvas (not platypus, which is several times
slower): the first pass places every string and breaks pages, recording drawing operations; the
second paints them, so each footer can say "page 2 of 3" — a page removed from a printed copy
shows. Text uses the PDF standard fonts (nothing embedded, text extractable); they cover
Latin-1 (French accents included), and anything beyond prints as a box.
"""

from __future__ import annotations

import functools
import io
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal

import attrs
from reportlab.lib.colors import Color
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from checkout_core.model.order import Delivery, DeliveryMethod, PaymentChoice
from checkout_core.model.vehicle import DisclosureKind
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

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

_PROVINCE_NAMES = {
    "AB": "Alberta",
    "BC": "British Columbia",
    "MB": "Manitoba",
    "NB": "New Brunswick",
    "NL": "Newfoundland and Labrador",
    "NS": "Nova Scotia",
    "NT": "Northwest Territories",
    "NU": "Nunavut",
    "ON": "Ontario",
    "PE": "Prince Edward Island",
    "QC": "Quebec",
    "SK": "Saskatchewan",
    "YT": "Yukon",
}

NOT_STATED = "Not stated"

#: How each disclosed history fact is introduced on the agreement (the dealer's detail follows).
_DISCLOSURE_TITLES = {
    DisclosureKind.DAILY_RENTAL: "Previously used as a daily rental vehicle",
    DisclosureKind.ACCIDENT_DAMAGE: "Sustained accident damage exceeding $3,000 (total repair costs)",
    DisclosureKind.BRANDED: "Branded",
    DisclosureKind.OUT_OF_PROVINCE: "Previously registered outside the province",
    DisclosureKind.OTHER: "Material fact",
}

Op = Callable[[Canvas], None]


@attrs.frozen
class _Text:
    """One string to print, kept as data: a page's strings are painted together (see render)."""

    x: float
    y: float
    value: str
    font: str
    size: float
    color: Color
    align: str


def _paint_texts(c: Canvas, texts: Sequence[_Text]) -> None:
    """Every string of a page in one PDF text object, setting font and colour only when they
    change. One text object per string (``drawString``) cost most of the rendering time; the
    page looks the same because no graphic is meant to cover text (all of it is painted after
    the page's rules and bands)."""
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
        x = text.x
        if text.align != "left":
            width = stringWidth(text.value, text.font, text.size)
            x -= width if text.align == "right" else width / 2
        block.setTextOrigin(x, text.y)
        block.textOut(text.value)
    c.drawText(block)


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
    return f"{_MONTHS[day.month - 1]} {day.day}, {day.year}"


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
    return tuple(simpleSplit(text, font, size, width) or [""])


@functools.lru_cache(maxsize=1024)
def _paragraph_lines(value: str, font: str, size: float, available: float, first_indent: float) -> tuple[str, ...]:
    """``value`` wrapped to ``available`` points, its first line shorter by ``first_indent``."""
    words = value.split()
    first: list[str] = []
    while words and stringWidth(" ".join([*first, words[0]]), font, size) <= available - first_indent:
        first.append(words.pop(0))
    return (" ".join(first), *(_wrapped(" ".join(words), font, size, available) if words else ()))


# -- the two-pass layout ------------------------------------------------------------------------


class PageLayout:
    """Places text top-down over as many pages as needed, recording how to paint each page.

    ``continued`` is printed at the top of every page after the first."""

    def __init__(self, continued: str) -> None:
        self.pages: list[list[Op | _Text]] = [[]]
        self.y = TOP
        self._continued = continued

    # primitives

    def op(self, op: Op | _Text) -> None:
        """Record a drawing operation (or a string) on the current page."""
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
        self.op(_Text(x, y, value, font, size, color, align))

    def line(self, x1: float, y1: float, x2: float, y2: float, *, color: Color = RULE, width: float = 0.6) -> None:
        """A straight line."""

        def paint(c: Canvas) -> None:
            c.setStrokeColor(color)
            c.setLineWidth(width)
            c.line(x1, y1, x2, y2)

        self.op(paint)

    def box(
        self, x: float, y: float, w: float, h: float, *, fill: Color | None = None, stroke: Color | None = RULE
    ) -> None:
        """A rectangle with its lower-left corner at (x, y)."""

        def paint(c: Canvas) -> None:
            if fill is not None:
                c.setFillColor(fill)
            if stroke is not None:
                c.setStrokeColor(stroke)
                c.setLineWidth(0.6)
            c.rect(x, y, w, h, stroke=int(stroke is not None), fill=int(fill is not None))

        self.op(paint)

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

    def render(self, footer: Callable[[Canvas, int, int], None], meta: dict[str, str]) -> bytes:
        """Paint every page (with its footer) into PDF bytes."""
        buffer = io.BytesIO()
        # invariant=1 fixes the creation date and the file id, so equal input gives equal bytes;
        # streams stay uncompressed so the bytes do not depend on the zlib build either.
        c = Canvas(buffer, pagesize=LETTER, invariant=1, pageCompression=0, lang="en-CA")
        c.setTitle(meta.get("title", ""))
        c.setAuthor(meta.get("author", ""))
        c.setSubject(meta.get("subject", ""))
        c.setCreator(meta.get("creator", "checkout-backend"))
        c.setKeywords(meta.get("keywords", ""))
        total = len(self.pages)
        for number, page in enumerate(self.pages, start=1):
            for op in page:
                if not isinstance(op, _Text):
                    op(c)
            _paint_texts(c, [op for op in page if isinstance(op, _Text)])
            footer(c, number, total)
            c.showPage()
        c.save()
        return buffer.getvalue()


# -- the agreement ---------------------------------------------------------------------------


def _money(amount: Money) -> str:
    return amount.format()


def _less(amount: Money) -> str:
    """A deduction, printed negative (``-$8,000.00``); nothing to deduct prints ``$0.00``."""
    return (-amount).format() if amount.cents else Money.zero(amount.currency).format()


def _or_not_stated(value: str) -> str:
    cleaned = printable(value)
    return cleaned or NOT_STATED


def _delivery_date(delivery: Delivery) -> str:
    if delivery.scheduled_date is not None:
        window = f", {printable(delivery.time_window, 60)}" if delivery.time_window else ""
        return f"{long_date(delivery.scheduled_date)}{window} (scheduled)"
    if delivery.preferred_date is not None:
        return f"{long_date(delivery.preferred_date)} (requested; to be confirmed by the dealer)"
    return "To be scheduled with the buyer"


class ReportlabAgreementRenderer:
    """Implements :class:`~checkout_core.ports.documents.AgreementRenderer` with reportlab.

    ``return_window_days`` is the return policy printed in the terms and in the "sales final"
    statement (the ``CHECKOUT_RETURN_WINDOW_DAYS`` setting; 0 means no return policy)."""

    def __init__(self, *, return_window_days: int = 10) -> None:
        if return_window_days < 0:
            raise ValueError("return_window_days must not be negative")
        self._return_days = return_window_days

    def render(self, agreement: AgreementInput) -> bytes:
        """The agreement as PDF bytes (deterministic: same input, same bytes)."""
        order = agreement.order
        number = printable(order.number, 40)
        layout = PageLayout(f"Vehicle purchase agreement {number} (continued)")
        self._header(layout, agreement)
        self._parties(layout, agreement)
        self._vehicle(layout, agreement)
        self._price(layout, agreement)
        self._trade_in(layout, agreement)
        self._payment(layout, agreement)
        if order.payment.method is PaymentChoice.FINANCE:
            self._financing(layout, agreement)
        self._delivery(layout, agreement)
        self._terms(layout, agreement)
        self._signatures(layout, agreement)

        dealer = agreement.dealer
        footer_left = printable(f"{dealer.name} · Dealer registration {dealer.registration_number}", 110)

        def footer(c: Canvas, page: int, pages: int) -> None:
            c.setStrokeColor(RULE)
            c.setLineWidth(0.6)
            c.line(LEFT, FOOTER_Y + 12, RIGHT, FOOTER_Y + 12)
            c.setFont(REGULAR, 7.5)
            c.setFillColor(MUTED)
            c.drawString(LEFT, FOOTER_Y, footer_left)
            c.drawRightString(RIGHT, FOOTER_Y, f"Agreement {number} · Page {page} of {pages}")

        vehicle = agreement.vehicle
        return layout.render(
            footer,
            {
                "title": f"Vehicle purchase agreement {number}",
                "author": printable(dealer.name, 200),
                "subject": printable(f"Bill of sale: {vehicle.title}, VIN {vehicle.vin}", 200),
                "creator": "checkout-backend (reportlab agreement renderer)",
                "keywords": f"purchase agreement, bill of sale, {number}",
            },
        )

    # -- sections ----------------------------------------------------------------------------

    def _header(self, layout: PageLayout, agreement: AgreementInput) -> None:
        dealer = agreement.dealer
        y = layout.y
        layout.text(LEFT, y - 14, printable(dealer.name, 60), font=BOLD, size=14, color=ACCENT)
        left_lines = [
            printable(dealer.address, 90),
            f"Dealer registration no. {printable(dealer.registration_number, 60)}",
        ]
        contact = " · ".join(printable(v, 60) for v in (dealer.phone, dealer.email) if v)
        if contact:
            left_lines.append(contact)
        for n, line in enumerate(left_lines):
            layout.text(LEFT, y - 28 - n * 11, line, size=8.5, color=MUTED)

        layout.text(RIGHT, y - 13, "VEHICLE PURCHASE AGREEMENT", font=BOLD, size=12.5, align="right")
        layout.text(RIGHT, y - 26, "Bill of sale — used motor vehicle", size=8.5, color=MUTED, align="right")
        layout.text(
            RIGHT, y - 40, f"Agreement no. {printable(agreement.order.number, 40)}", font=BOLD, size=9, align="right"
        )
        layout.text(RIGHT, y - 52, f"Date of sale: {long_date(agreement.sale_date)}", size=9, align="right")
        bottom = y - max(60.0, 28 + len(left_lines) * 11)
        layout.line(LEFT, bottom, RIGHT, bottom, color=ACCENT, width=1.4)
        layout.y = bottom - 12

    def _parties(self, layout: PageLayout, agreement: AgreementInput) -> None:
        contact = agreement.order.contact
        address = contact.address
        advisor = agreement.advisor
        dealer = agreement.dealer
        columns = [
            (
                "BUYER",
                [
                    (printable(contact.full_name, 120), BOLD),
                    (printable(address.street, 200), REGULAR),
                    (printable(f"{address.city}, {address.province} {address.postal_code}", 160), REGULAR),
                    (f"Phone: {printable(contact.phone, 40)}", REGULAR),
                    (f"Email: {printable(contact.email, 254)}", REGULAR),
                ],
            ),
            (
                "DEALER (SELLER)",
                [
                    (printable(dealer.name, 120), BOLD),
                    (printable(dealer.address, 200), REGULAR),
                    (f"Registration no.: {printable(dealer.registration_number, 60)}", REGULAR),
                    (f"Sales advisor: {printable(advisor.name, 120)}", REGULAR),
                    (printable(" · ".join(v for v in (advisor.phone, advisor.email) if v), 200), REGULAR),
                ],
            ),
        ]
        size, leading, pad = 8.5, 11.0, 7.0
        column_width = (WIDTH - 12) / 2
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

    def _vehicle(self, layout: PageLayout, agreement: AgreementInput) -> None:
        vehicle = agreement.vehicle
        layout.section("Vehicle")
        layout.fields(
            [
                ("Year", str(vehicle.year)),
                ("Make", _or_not_stated(vehicle.make)),
                ("Model", _or_not_stated(vehicle.model)),
                ("Trim", _or_not_stated(vehicle.trim)),
                ("Body type", _or_not_stated(vehicle.body_type)),
                ("Colour", _or_not_stated(vehicle.colour)),
                ("VIN", _or_not_stated(vehicle.vin)),
                ("Odometer", f"{vehicle.odometer_km:,} km (as shown on the odometer)"),
                ("Listing", _or_not_stated(vehicle.id)),
                ("Condition", "Used"),
            ]
        )
        layout.gap(4)
        self._disclosures(layout, agreement)
        layout.gap(8)

    def _disclosures(self, layout: PageLayout, agreement: AgreementInput) -> None:
        """OMVIC's written disclosure of material facts about the car's history."""
        disclosures = agreement.vehicle.disclosures
        layout.paragraph("Vehicle history disclosures", font=BOLD, size=8.5)
        if not disclosures:
            layout.paragraph(
                "The dealer has declared no material fact about this vehicle's history (such as previous "
                "use as a daily rental, accident damage over $3,000, branding as irreparable, salvage or "
                "rebuilt, or registration outside the province).",
                color=MUTED,
            )
            return
        for n, disclosure in enumerate(disclosures, start=1):
            detail = printable(disclosure.detail, 300)
            text = f"{_DISCLOSURE_TITLES[disclosure.kind]}{': ' + detail if detail else '.'}"
            layout.paragraph(text, lead=f"{n}.", indent=14)

    def _price(self, layout: PageLayout, agreement: AgreementInput) -> None:
        pricing = agreement.order.pricing
        tax = pricing.tax
        province = _PROVINCE_NAMES.get(pricing.province, pricing.province)
        rows: list[tuple[str, str, str]] = [
            ("Vehicle price", _money(pricing.vehicle_price), "item"),
            ("Trade-in credit", _less(pricing.trade_in_credit), "item"),
            ("Administration fee", _money(pricing.admin_fee), "item"),
            ("Documentation fee", _money(pricing.documentation_fee), "item"),
            ("Subtotal (taxable amount)", _money(pricing.subtotal), "sub"),
        ]
        taxable = tax.taxable if tax.taxable.cents > 0 else Money.zero(tax.taxable.currency)
        for line in tax.lines:
            rows.append((f"{line.kind} {percent(line.rate)} on {_money(taxable)}", _money(line.amount), "item"))
        if len(tax.lines) > 1:
            rows.append((f"Total sales tax ({percent(tax.rate)})", _money(tax.total), "item"))
        rows.append(("Total purchase price", _money(pricing.total_due), "total"))
        note = (
            f"Sales tax charged at the rates in force on {long_date(pricing.priced_on)} for a buyer residing in "
            f"{province}."
        )
        if pricing.trade_in_credit.cents:
            note += " The trade-in credit reduces the taxable amount."
        rows.append((note, "", "note"))
        layout.section("Purchase price", keep_with_next=len(rows) * 12.5)
        layout.amounts(rows)
        layout.gap(8)

    def _trade_in(self, layout: PageLayout, agreement: AgreementInput) -> None:
        trade_in = agreement.order.trade_in
        layout.section("Trade-in")
        if trade_in is None:
            layout.paragraph("No trade-in vehicle is part of this agreement.")
        else:
            layout.fields(
                [
                    ("Vehicle", _or_not_stated(trade_in.description)),
                    ("Credit applied", _money(trade_in.credit)),
                    ("Appraisal ref.", _or_not_stated(trade_in.offer_id)),
                ],
                columns=1,
                label_width=90,
            )
            layout.paragraph(
                "The buyer states that they own the trade-in vehicle, that it is as described in the appraisal, and "
                "that any lien on it has been disclosed to the dealer; the credit is applied when the vehicle is "
                "handed over.",
                size=8,
                color=MUTED,
            )
        layout.gap(8)

    def _payment(self, layout: PageLayout, agreement: AgreementInput) -> None:
        order = agreement.order
        plan = order.payment
        total = order.pricing.total_due
        balance = total - plan.deposit - plan.down_payment
        financed = plan.method is PaymentChoice.FINANCE
        lender = printable(plan.lender or "the lender", 80)
        rows: list[tuple[str, str, str]] = [
            ("Total purchase price", _money(total), "item"),
            ("Deposit received", _less(plan.deposit), "item"),
            ("Down payment" + (" (due before delivery)" if financed else ""), _less(plan.down_payment), "item"),
            (
                f"Balance owing — to be financed by {lender}" if financed else "Balance owing — due before delivery",
                _money(balance),
                "total",
            ),
        ]
        if financed:
            rows.append(
                ("The balance owing is paid to the dealer by the lender; see the financing disclosure.", "", "note")
            )
        else:
            rows.append(("Payment method: cash purchase (bank transfer or card); no financing.", "", "note"))
        layout.section("Payment", keep_with_next=len(rows) * 12.5)
        layout.amounts(rows)
        layout.gap(8)

    def _financing(self, layout: PageLayout, agreement: AgreementInput) -> None:
        plan = agreement.order.payment
        financed = plan.financed_amount
        pairs: list[tuple[str, str]] = [
            ("Lender", _or_not_stated(plan.lender or "")),
            ("Amount financed", _money(financed)),
        ]
        if plan.apr_percent is not None and plan.term_months and plan.monthly_payment is not None:
            total_of_payments = Money(plan.monthly_payment.cents * plan.term_months, financed.currency)
            pairs += [
                ("Annual rate (APR)", apr_text(plan.apr_percent)),
                ("Term", f"{plan.term_months} months ({plan.term_months} monthly payments)"),
                ("Monthly payment", _money(plan.monthly_payment)),
                ("Total of payments", _money(total_of_payments)),
                ("Cost of borrowing", _money(total_of_payments - financed)),
            ]
        else:
            pairs.append(("Terms", "As set out in the lender's credit agreement"))
        layout.section("Financing disclosure", keep_with_next=70)
        layout.fields(pairs, label_width=92)
        layout.paragraph(
            "The cost of borrowing is the total of payments less the amount financed, with interest compounded "
            "monthly and no other charges. The loan is made by the lender under its own credit agreement with the "
            "buyer, which governs the loan if it differs from this summary.",
            size=8,
            color=MUTED,
        )
        layout.gap(8)

    def _delivery(self, layout: PageLayout, agreement: AgreementInput) -> None:
        delivery = agreement.order.delivery
        if delivery.method is DeliveryMethod.DELIVERY:
            method = "Home delivery"
            where = delivery.address.one_line() if delivery.address else "To be confirmed with the buyer"
            where_label = "Deliver to"
        else:
            method = "Pickup by the buyer"
            where = delivery.address.one_line() if delivery.address else "The dealer's pickup location, as confirmed"
            where_label = "Pickup at"
        layout.section("Delivery")
        layout.fields(
            [
                ("Method", method),
                (where_label, printable(where, 250)),
                ("Delivery date", _delivery_date(delivery)),
            ],
            columns=1,
            label_width=90,
        )
        layout.gap(8)

    def _sales_final(self) -> str:
        if self._return_days:
            return f"All sales are final, subject only to the {self._return_days}-day return policy stated above."
        return "All sales are final."

    def _terms(self, layout: PageLayout, agreement: AgreementInput) -> None:
        plan = agreement.order.payment
        dealer = agreement.dealer
        days = self._return_days
        clauses = [
            (
                "Deposit",
                f"The refundable deposit of {_money(plan.deposit)} received with the reservation is applied to the "
                "purchase price.",
            ),
            (
                "Payment and delivery",
                "The vehicle is delivered or handed over only once the balance owing has been paid (or the financing "
                "funded) and the buyer has provided proof of valid insurance on the vehicle.",
            ),
            (
                "Cancellation before delivery",
                "The buyer may cancel this agreement until the vehicle is dispatched for delivery or handed over; "
                "everything paid under it, the deposit included, is then refunded.",
            ),
            (
                f"{days}-day return policy" if days else "No return policy",
                (
                    f"The buyer may return the vehicle within {days} days after delivery, in the condition in which it "
                    "was delivered, for a refund of the amounts paid under this agreement. After that period the "
                    "sale is final."
                )
                if days
                else "Once the vehicle is delivered or handed over, the sale is final.",
            ),
            (
                "Taxes and fees",
                "Every charge and each sales tax is itemised above; no other fee is payable to the dealer under this "
                "agreement.",
            ),
            (
                "Electronic signature",
                "The parties agree that this agreement may be signed electronically and that an electronic signature "
                "has the same effect as a handwritten one (Electronic Commerce Act, 2000, Ontario). The signed copy "
                "records who signed, when and from where, and carries the dealer's digital seal.",
            ),
            (
                "Dealer registration",
                f"{printable(dealer.name, 120)} is a motor vehicle dealer registered in Ontario under registration "
                f"number {printable(dealer.registration_number, 60)}.",
            ),
            (
                "Entire agreement",
                "This document is the entire agreement between the buyer and the dealer for the sale of the vehicle "
                "and is governed by the laws of Ontario and of Canada applicable there.",
            ),
        ]
        layout.section("Terms and conditions")
        for n, (title, body) in enumerate(clauses, start=1):
            layout.paragraph(body, heading=f"{title}.", indent=16, lead=f"{n}.", size=8)
            layout.gap(2)
        layout.gap(8)

    def _signatures(self, layout: PageLayout, agreement: AgreementInput) -> None:
        contact = agreement.order.contact
        dealer = agreement.dealer
        half = (WIDTH - 24) / 2
        sign_x = LEFT + half + 24
        statement = wrap(self._sales_final(), BOLD, 9.5, half - 18)
        statement_height = max(len(statement) * 12.5 + 14, 46.0)
        # Both rows, the note under them and a little air, so the block never splits over two pages.
        layout.section("Signatures", keep_with_next=max(statement_height, 78.0) + 18 + 14 + 76 + 40)

        # Buyer: the "sales final" statement in a box on the left, beside the signature line.
        top = layout.y
        layout.text(LEFT, top - 8, "BUYER", font=BOLD, size=7.5, color=ACCENT)
        box_top = top - 14
        layout.box(LEFT, box_top - statement_height, half, statement_height, stroke=INK)
        for n, line in enumerate(statement):
            layout.text(LEFT + 9, box_top - 16 - n * 12.5, line, font=BOLD, size=9.5)
        self._signature_line(
            layout, sign_x, box_top, half, "Buyer's signature", [f"Name: {printable(contact.full_name, 80)}", "Date:"]
        )
        layout.y = box_top - max(statement_height, 78.0) - 18

        # Dealer: who signs for it on the left, its signature line on the right.
        top = layout.y
        layout.text(LEFT, top - 8, "DEALER", font=BOLD, size=7.5, color=ACCENT)
        box_top = top - 14
        for n, line in enumerate(
            [f"For {printable(dealer.name, 90)}", f"Registration no. {printable(dealer.registration_number, 60)}"]
        ):
            layout.text(LEFT, box_top - 12 - n * 12, line, size=8.5)
        self._signature_line(
            layout, sign_x, box_top, half, "Authorized representative's signature", ["Name and title:", "Date:"]
        )
        layout.y = box_top - 76
        layout.paragraph(
            "When this agreement is signed electronically, a signature record (signer, time, IP address, device "
            "and the SHA-256 fingerprint of these pages) is added as the last page, and the dealer's digital seal "
            "is applied to the whole document.",
            size=7.5,
            color=MUTED,
        )

    @staticmethod
    def _signature_line(layout: PageLayout, x: float, top: float, width: float, caption: str, below: list[str]) -> None:
        """A line to sign on, ``top`` points down to it, with a caption and details beneath."""
        layout.line(x, top - 30, x + width, top - 30, color=INK, width=0.8)
        layout.text(x, top - 39, caption, size=7.5, color=MUTED)
        for n, text in enumerate(below):
            layout.text(x, top - 52 - n * 12, text, size=8.5)
